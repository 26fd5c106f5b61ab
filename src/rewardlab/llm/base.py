"""What every LM algorithm shares: policy and optimizer set-up, declared checkpoint state,
held-out evaluation on a task, and the samples the Run writes to ``samples.jsonl``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import OBJECT, RNG, VALUE
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.llm.evaluate import evaluate_policy, make_task, score  # noqa: F401  (score: used by online.py)
from rewardlab.llm.policy import Policy, PolicyConfig

LR_SCHEDULERS = ("linear", "constant")


@dataclass
class LMTrainConfig(PolicyConfig):
    """Optimizer settings shared by the LM algorithms. Defaults: Hugging Face ``TrainingArguments``
    (transformers 5.23, which TRL's configs extend) unless the algorithm's config overrides them."""

    total_steps: int = 200  # optimizer steps
    learning_rate: float = 1e-6  # TRL GRPOConfig / RLOOConfig / DPOConfig.learning_rate
    adam_beta1: float = 0.9  # TrainingArguments.adam_beta1
    adam_beta2: float = 0.999  # TrainingArguments.adam_beta2
    adam_epsilon: float = 1e-8  # TrainingArguments.adam_epsilon
    weight_decay: float = 0.0  # TrainingArguments.weight_decay
    max_grad_norm: float = 1.0  # TrainingArguments.max_grad_norm
    lr_scheduler: str = "linear"  # TrainingArguments.lr_scheduler_type (linear decay to 0, no warm-up)
    samples_every: int = 10  # steps between the samples the Run writes to samples.jsonl (0 = never)
    samples_per_log: int = 4  # (prompt, completion, reward) rows written each time
    eval_episodes: int = 200  # held-out problems scored greedily by evaluate()
    # the training reward: a registered name, an import path ("my_rewards:f", "path/file.py:f") or a
    # [reward] spec table (see rewardlab.rewards.registry); "" = the task's own reward
    reward: str | dict = ""

    @classmethod
    def explain_unknown_key(cls, key: str) -> str:
        """Names the LM algorithms that do accept ``key`` (for the unknown-key error)."""
        from rewardlab.llm.combinations import explain_unknown_key

        return explain_unknown_key(key, cls)

    def validate(self) -> None:
        super().validate()
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ConfigError(f"lr_scheduler {self.lr_scheduler!r} is not one of {', '.join(LR_SCHEDULERS)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")


class TrainableWeights:
    """The policy's trainable tensors (the LoRA adapter, or every weight without LoRA) as a
    state_dict-style object, so the frozen base model is not copied into every checkpoint."""

    def __init__(self, policy: Policy):
        self.policy = policy

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.policy.trainable_state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.policy.load_trainable_state_dict(state)


class LMAlgorithm(Algorithm):
    """Base of GRPO, RLOO and DPO. Subclasses implement ``step``."""

    curve_metric = "reward"
    config: LMTrainConfig
    state_fields = {
        "weights": OBJECT, "optimizer": OBJECT, "np_rng": RNG, "truncated_prompts": VALUE,
        "_reported_truncations": VALUE, "_samples": VALUE,
    }  # fmt: skip
    rebuilt_fields = ("policy", "task", "reward")

    def __init__(
        self, config: LMTrainConfig, *, policy: Policy | None = None, task: Any = None, reward: Any = None
    ):
        super().__init__(config)
        if hasattr(config, "validate"):
            config.validate()
        torch.set_num_threads(config.num_threads)
        random.seed(config.seed)
        np.random.seed(config.seed % 2**32)
        torch.manual_seed(config.seed)
        self.np_rng = np.random.default_rng(config.seed)
        self.policy = policy if policy is not None else Policy.from_config(config)
        self.task = task
        if self.task is None and config.env:
            self.task = make_task(config.env, config.seed, getattr(config, "task_params", {}) or {})
        if reward is None and config.reward:
            from rewardlab.tasks.base import build_reward

            reward = build_reward(config.reward)
        self.reward = (
            reward if reward is not None else (self.task.reward() if self.task is not None else None)
        )
        self.optimizer = torch.optim.AdamW(
            self.policy.trainable_parameters(),
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_epsilon,
            weight_decay=config.weight_decay,
        )
        self.weights = TrainableWeights(self.policy)
        self._samples: list[dict[str, Any]] = []
        self.policy.warn_on_truncation = False  # reported through pop_warnings() instead
        self._reported_truncations = 0

    # ---- learning-rate schedule (HF TrainingArguments: linear decay to 0, no warm-up) ---------
    def current_lr(self) -> float:
        cfg = self.config
        if cfg.lr_scheduler == "constant":
            return cfg.learning_rate
        frac = min(self.global_step / max(cfg.total_steps, 1), 1.0)
        return cfg.learning_rate * (1.0 - frac)

    def optimizer_step(self) -> float:
        """Clip, step with the scheduled learning rate, zero grads; returns the pre-clip grad norm."""
        # every parameter the optimizer steps (the policy's, and a value head's where there is one)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        for group in self.optimizer.param_groups:
            group["lr"] = self.current_lr() * group.get("lr_scale", 1.0)  # a critic's own rate
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.global_step += 1
        return float(grad_norm)

    # ---- samples for samples.jsonl ----------------------------------------------------------
    def latest_samples(self, n: int = 4) -> list[dict[str, Any]]:
        """A few (prompt, completion, reward) rows of the latest batch, JSON-ready, for samples.jsonl."""
        return [dict(row, step=self.global_step) for row in self._samples[:n]]

    def pop_records(self) -> dict[str, list[dict[str, Any]]]:
        """``{"samples": rows}`` every ``samples_every`` optimizer steps, for the Run's samples.jsonl."""
        every = self.config.samples_every
        if every > 0 and self._samples and self.global_step % every == 0:
            return {"samples": self.latest_samples(self.config.samples_per_log)}
        return {}

    def pop_warnings(self) -> list[str]:
        n = self.policy.truncated_prompts
        if n > self._reported_truncations:
            new = n - self._reported_truncations
            self._reported_truncations = n
            return [
                f"{new} prompt(s) longer than max_prompt_length={self.config.max_prompt_length} tokens were "
                f'truncated from the left ({n} so far); raise max_prompt_length or set prompt_truncation = "error"'
            ]
        return []

    def _record_samples(self, examples: list[Any], texts: list[str], result: Any) -> None:
        rows = result.rows() if hasattr(result, "rows") else [{} for _ in texts]
        self._samples = []
        for ex, text, row in zip(examples, texts, rows):
            prompt = ex.prompt if isinstance(ex.prompt, str) else ex.prompt[-1].get("content", "")
            self._samples.append(
                {
                    "prompt": prompt,
                    "completion": text,
                    "reference": ex.reference
                    if isinstance(ex.reference, str | int | float)
                    else str(ex.reference),
                    "reward": row.get(getattr(result, "name", ""), float("nan")),
                    "components": row.get("components", {}),
                    "note": row.get("note", ""),
                }
            )

    # ---- evaluation -------------------------------------------------------------------------
    def evaluate(self, episodes: int) -> dict[str, Any]:
        """Greedy completions on the first ``episodes`` problems of the task's test split."""
        return self.evaluate_task(split="test", limit=episodes)

    def evaluate_task(
        self,
        split: str = "test",
        limit: int | None = None,
        batch_size: int = 50,
        task: str | None = None,
        task_params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Greedy evaluation on ``split`` of the run's task, or of another task named by ``task``."""
        the_task, reward = self.task, self.reward
        if task is not None:
            the_task = make_task(task, self.config.seed, task_params or {})
            reward = the_task.reward()
        if the_task is None or reward is None:
            raise RewardlabError("this run has no task to evaluate on; pass --task NAME")
        return evaluate_policy(
            self.policy,
            the_task,
            reward,
            split=split,
            limit=limit,
            max_new_tokens=getattr(self.config, "max_completion_length", 256),
            batch_size=batch_size,
        )

    # ---- checkpoint state -------------------------------------------------------------------
    @property
    def truncated_prompts(self) -> int:
        """Prompts cut to ``max_prompt_length`` so far (counted by the policy; saved with the run)."""
        return self.policy.truncated_prompts

    @truncated_prompts.setter
    def truncated_prompts(self, n: int) -> None:
        self.policy.truncated_prompts = int(n)

    def parameters_finite(self) -> str | None:
        return self.policy.parameters_finite()
