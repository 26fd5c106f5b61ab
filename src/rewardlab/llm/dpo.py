"""DPO: Direct Preference Optimization (Rafailov et al. 2023, arXiv 2305.18290).

Reference code the numbers are checked against: TRL 1.16.0, ``trl/trainer/dpo_trainer.py``
(``DPOTrainer._compute_loss``, loss type ``sigmoid`` with ``f_divergence_type="reverse_kl"``) and
``trl/trainer/dpo_config.py`` for the defaults (tests/llm/test_loss_parity.py).

Offline: a JSONL file of ``{"prompt", "chosen", "rejected"}``. The reference policy's sequence
log-probs of every pair are computed once, before the first update, and cached (they never change).
One iteration (``DPO.step``) is one optimizer step on ``batch_size`` pairs::

    h      = (logp(y_w) - logp_ref(y_w)) - (logp(y_l) - logp_ref(y_l))   # sums over completion tokens
    loss   = mean -log sigmoid(beta * h)
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from rewardlab.core.state import ARRAY, TENSOR, VALUE
from rewardlab.errors import ConfigError
from rewardlab.llm.base import LMAlgorithm, LMTrainConfig
from rewardlab.llm.policy import Batch


def dpo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    *,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sigmoid DPO loss of a batch and the implicit rewards ``beta * (logp - logp_ref)``.

    All inputs: (batch,) sequence log-probabilities (sums over completion tokens).
    Returns ``(loss, chosen_rewards, rejected_rewards)``; the rewards are detached.
    """
    chosen_logratios = chosen_logps - ref_chosen_logps
    rejected_logratios = rejected_logps - ref_rejected_logps
    loss = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios)).mean()
    return loss, (beta * chosen_logratios).detach(), (beta * rejected_logratios).detach()


@dataclass
class DPOConfig(LMTrainConfig):
    """DPO hyper-parameters. Defaults from TRL 1.16.0 ``trl/trainer/dpo_config.py`` unless noted."""

    env: str = ""  # optional task to evaluate on (held-out reward); training uses `data` only
    task_params: dict = field(default_factory=dict)  # parameters of that task
    data: str = ""  # JSONL of {"prompt" | "messages", "chosen", "rejected"}
    eval_data: str = ""  # held-out pairs for evaluate() (default: the training pairs)
    beta: float = 0.1  # TRL DPOConfig.beta
    learning_rate: float = 1e-6  # TRL DPOConfig.learning_rate
    batch_size: int = 8  # pairs per optimizer step (TRL per_device_train_batch_size 8)
    max_completion_length: int = 256  # tokens kept of each chosen / rejected completion

    def validate(self) -> None:
        super().validate()
        if not self.data:
            raise ConfigError(
                'DPO needs preference data: set data = "pairs.jsonl" ({prompt, chosen, rejected} per line)'
            )
        if self.batch_size < 1 or self.max_completion_length < 1:
            raise ConfigError("batch_size and max_completion_length must be >= 1")


class DPO(LMAlgorithm):
    """Direct Preference Optimization on a causal LM (LoRA), sigmoid loss; see the module docstring."""

    config_class = DPOConfig
    summary = "DPO (sigmoid loss) on preference pairs from a JSONL file; reference log-probs cached once"
    curve_metric = "rewards/margins"
    config: DPOConfig
    # the reference log-probs are computed once from the initial policy; saved so a resume need not
    state_fields = {"data_order": ARRAY, "data_pos": VALUE, "epoch": VALUE, "ref_chosen": TENSOR,
                    "ref_rejected": TENSOR}  # fmt: skip
    rebuilt_fields = ("pairs", "eval_pairs", "eval_ref")

    def __init__(
        self, config: DPOConfig, *, pairs: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        if pairs is not None and not config.data:
            config.data = "<in memory>"
        super().__init__(config, **kwargs)
        from rewardlab.tasks.jsonl import read_preference_pairs

        self.pairs = pairs if pairs is not None else read_preference_pairs(config.data)
        self.eval_pairs = read_preference_pairs(config.eval_data) if config.eval_data else self.pairs
        self.policy.memory_check(
            sequences_per_pass=min(config.micro_batch_size, 2 * config.batch_size),
            completion_length=config.max_completion_length,
            reference_copy=False,
            knob="micro_batch_size (sequences per forward/backward) or max_completion_length",
        )
        self.data_order = self.np_rng.permutation(len(self.pairs))
        self.data_pos = 0
        self.epoch = 0
        # The reference never changes: score every pair once before the first update. Before any
        # update the policy *is* the reference (LoRA starts at zero), so no copy is needed.
        self.ref_chosen, self.ref_rejected = self.sequence_logprobs(self.pairs, reference=True)
        self.eval_ref = (
            (self.ref_chosen, self.ref_rejected)
            if self.eval_pairs is self.pairs
            else self.sequence_logprobs(self.eval_pairs, reference=True)
        )

    # ---- tokenisation -------------------------------------------------------------------------
    def encode_pairs(self, pairs: list[dict[str, Any]]) -> Batch:
        """[chosen rows; rejected rows]: prompt left-padded, completion (+ EOS) right-padded."""
        prompts = [p["prompt"] for p in pairs]
        texts = [p["chosen"] for p in pairs] + [p["rejected"] for p in pairs]
        return self.policy.encode_completions(prompts + prompts, texts, self.config.max_completion_length)

    def pair_logprobs(self, pairs: list[dict[str, Any]], *, grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.encode_pairs(pairs)
        with torch.set_grad_enabled(grad):
            seq = (self.policy.logprobs(batch) * batch.completion_mask).sum(1)
        n = len(pairs)
        return seq[:n], seq[n:]

    @torch.no_grad()
    def sequence_logprobs(
        self, pairs: list[dict[str, Any]], reference: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        chosen, rejected = [], []
        step = max(1, self.config.micro_batch_size // 2)
        ctx = self.policy.reference() if reference and self.policy.lora else contextlib.nullcontext()
        with ctx:
            for i in range(0, len(pairs), step):
                c, r = self.pair_logprobs(pairs[i : i + step], grad=False)
                chosen.append(c)
                rejected.append(r)
        return torch.cat(chosen), torch.cat(rejected)

    # ---- one iteration ------------------------------------------------------------------------
    def next_indices(self, n: int) -> list[int]:
        out = []
        while len(out) < n:
            if self.data_pos >= len(self.data_order):
                self.data_order = self.np_rng.permutation(len(self.pairs))
                self.data_pos = 0
                self.epoch += 1
            out.append(int(self.data_order[self.data_pos]))
            self.data_pos += 1
        return out

    def step(self) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        idx = self.next_indices(cfg.batch_size)
        self.policy.model.train()
        step = max(1, cfg.micro_batch_size // 2)
        sums = {"loss": 0.0, "rewards/chosen": 0.0, "rewards/rejected": 0.0, "rewards/accuracies": 0.0}
        for i in range(0, len(idx), step):
            chunk = idx[i : i + step]
            chosen, rejected = self.pair_logprobs([self.pairs[j] for j in chunk], grad=True)
            loss, cr, rr = dpo_loss(
                chosen, rejected, self.ref_chosen[chunk], self.ref_rejected[chunk], beta=cfg.beta
            )
            share = len(chunk) / len(idx)  # the batch loss is the mean over all its pairs
            (loss * share).backward()
            sums["loss"] += float(loss.detach()) * share
            sums["rewards/chosen"] += float(cr.mean()) * share
            sums["rewards/rejected"] += float(rr.mean()) * share
            sums["rewards/accuracies"] += float((cr > rr).float().mean()) * share
        metrics = dict(sums)
        metrics["rewards/margins"] = sums["rewards/chosen"] - sums["rewards/rejected"]
        metrics["grad_norm"] = self.optimizer_step()
        metrics["lr"] = self.current_lr()
        metrics["epoch"] = float(self.epoch)
        metrics["time/step"] = time.perf_counter() - start
        metrics["num_threads"] = float(cfg.num_threads)
        self._samples = [
            {
                "prompt": self.pairs[j]["prompt"],
                "chosen": self.pairs[j]["chosen"],
                "rejected": self.pairs[j]["rejected"],
            }
            for j in idx[:4]
        ]
        return metrics

    # ---- evaluation ---------------------------------------------------------------------------
    def preference_metrics(self, limit: int | None = None) -> dict[str, float]:
        """Implicit-reward margin and accuracy on the held-out pairs."""
        pairs = self.eval_pairs[:limit] if limit else self.eval_pairs
        chosen, rejected = self.sequence_logprobs(pairs)
        ref_c, ref_r = self.eval_ref[0][: len(pairs)], self.eval_ref[1][: len(pairs)]
        margins = self.config.beta * ((chosen - ref_c) - (rejected - ref_r))
        return {
            "margin": float(margins.mean()),
            "margin_std": float(margins.std()) if len(margins) > 1 else 0.0,
            "preference_accuracy": float((margins > 0).float().mean()),
            "pairs": len(pairs),
        }

    def evaluate(self, episodes: int) -> dict[str, Any]:
        prefs = self.preference_metrics(episodes or None)
        out: dict[str, Any] = {
            "mean_return": prefs["margin"],
            "std_return": prefs["margin_std"],
            "episodes": prefs["pairs"],
            **prefs,
        }
        if self.task is not None and self.reward is not None:
            out["task_eval"] = self.evaluate_task("test", episodes)
        return out


__all__ = ["DPO", "DPOConfig", "dpo_loss"]
