"""A-LoL: Advantage-Leftover Lunch RL (Baheti et al., ICLR 2024, arXiv:2305.14718), the loss.

Offline policy gradient on a fixed set of (prompt x, response y, reward R) where the whole response
is one action. As abaheti95/LoL-RL computes it (``lolrl_qlora_llama_hh.py``; docs/offline.md,
"A-LoL"):

- advantage ``A = max(R - V_ref(x), 0)``: V_ref is a value head on the frozen reference policy's
  prompt states, fit to rewards of the reference's own samples; examples with A <= 0 are dropped;
- importance weight ``IS = clamp(pi(y|x) / pi_ref(y|x), 1 - eps, 1 + eps)`` with eps = ``ppo_clip``
  = 0.9, computed without gradient (a constant weight);
- ``loss = mean over the batch of (sum_t NLL_t) * IS * A`` (summed token NLL: "consistently sum is
  better than mean", the code says);
- "good priority" sampling: examples drawn with probability proportional to their positive
  advantage, so A <= 0 is never drawn.

Variants (the code's branches): ``a_lol`` (the above), ``a_lol_ref_free`` (IS = 1), ``a_lol_seq``
(per-token clamped ratios inside the sum), ``a_lol_kl`` (IS = 1 plus ``kl_beta`` x the sequence
log-ratio log pi - log pi_ref, the code asserts ppo_clip = 0 there), ``r_lol`` (R instead of A),
``wbc`` (R-weighted NLL, no ratio). ``clamp_advantage=False`` keeps negative advantages: the
ablation the paper argues against.

Ours: the value head is linear on the reference's final hidden state at the last prompt token
(the code attends over all prompt states); a_lol_kl's KL term is the sequence log-ratio estimate.

:class:`ALoL` is ``rewardlab train a-lol``: a JSONL file of ``{prompt, response, reward}``, a task
(``env``) whose train problems the reference answers greedily to fit V_ref (as the code does on its
dev set) and whose test split evaluates; V_ref(x) and the reference's log-probs of every response
are computed once before the first step and saved with the checkpoints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rewardlab.core.state import TENSOR, VALUE
from rewardlab.errors import ConfigError
from rewardlab.llm.base import LMAlgorithm, LMTrainConfig
from rewardlab.llm.evaluate import score

VARIANTS = ("a_lol", "a_lol_ref_free", "a_lol_seq", "a_lol_kl", "r_lol", "wbc")


def advantages(rewards: torch.Tensor, values: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """A = R - V_ref(x), floored at 0 unless ``clamp`` is False."""
    a = rewards - values
    return a.clamp(min=0.0) if clamp else a


def priority_probabilities(adv: np.ndarray) -> np.ndarray:
    """'good_priority' sampling: P(i) proportional to max(A_i, 0); zero where A <= 0."""
    w = np.maximum(np.asarray(adv, dtype=np.float64), 0.0)
    if w.sum() <= 0:
        raise ConfigError("A-LoL's priority sampling needs at least one example with positive advantage")
    return w / w.sum()


def alol_loss(
    token_logps: torch.Tensor,
    ref_token_logps: torch.Tensor,
    mask: torch.Tensor,
    rewards: torch.Tensor,
    values: torch.Tensor,
    *,
    variant: str = "a_lol",
    ppo_clip: float = 0.9,
    kl_beta: float = 0.0,
    clamp_advantage: bool = True,
) -> torch.Tensor:
    """The A-LoL loss of a batch. ``token_logps`` (B, T) are the policy's log-probs of the response
    tokens (with gradient), ``ref_token_logps`` the frozen reference's, ``mask`` 1 on real tokens;
    ``rewards`` and ``values`` (B,) are R and V_ref(x)."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown A-LoL variant {variant!r}; valid: {', '.join(VARIANTS)}")
    mask = mask.to(token_logps.dtype)
    nll = -(token_logps * mask)  # (B, T)
    seq_logp, ref_seq_logp = (token_logps * mask).sum(1), (ref_token_logps * mask).sum(1)
    weight = rewards if variant in ("r_lol", "wbc") else advantages(rewards, values, clamp_advantage)
    if variant == "wbc":
        return (nll.sum(1) * weight).mean()
    if variant == "a_lol_seq":
        with torch.no_grad():
            ratios = torch.exp(token_logps - ref_token_logps).clamp(1 - ppo_clip, 1 + ppo_clip)
        return ((nll * ratios).sum(1) * weight).mean()
    if variant in ("a_lol_ref_free", "a_lol_kl"):
        ratio = torch.ones_like(seq_logp)
    else:  # a_lol, r_lol
        with torch.no_grad():
            ratio = torch.exp(seq_logp - ref_seq_logp).clamp(1 - ppo_clip, 1 + ppo_clip)
    loss = (nll.sum(1) * ratio.detach() * weight).mean()
    if variant == "a_lol_kl":
        loss = loss + kl_beta * (seq_logp - ref_seq_logp).mean()
    return loss


class ValueHead(nn.Module):
    """V_ref(x): linear on the frozen reference's last-layer hidden state at the last prompt token."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, prompt_state: torch.Tensor) -> torch.Tensor:
        return self.linear(prompt_state).squeeze(-1)


def fit_value_head(
    prompt_states: torch.Tensor, rewards: torch.Tensor, epochs: int = 200, lr: float = 1e-2, seed: int = 0
) -> ValueHead:
    """MSE regression of the reference's sampled rewards on its (detached) prompt states. The code
    trains with AdamW lr 1e-5 for 10 epochs on a large validation set; a full-batch Adam fit with
    a larger step suits the small sets here (ours)."""
    torch.manual_seed(seed)
    head = ValueHead(prompt_states.shape[-1])
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    x, y = prompt_states.detach(), rewards.detach().float()
    for _ in range(epochs):
        loss = (head(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()


# ---------------------------------------------------------------------------------------------
# A-LoL as a `rewardlab train` algorithm


def read_scored_responses(path: str) -> list[dict[str, Any]]:
    """A-LoL data: one ``{"prompt" | "messages", "response", "reward"}`` per line (``completion`` is
    accepted for ``response``); errors name the file and line."""
    from rewardlab.errors import RewardlabError
    from rewardlab.tasks.jsonl import _prompt, read_jsonl

    rows = []
    for number, obj in read_jsonl(path):
        if not isinstance(obj, dict):
            raise RewardlabError(f"{path}:{number}: expected an object, got {type(obj).__name__}")
        prompt = _prompt(path, number, obj, "prompt")
        response = obj.get("response", obj.get("completion"))
        if not isinstance(response, str):
            raise RewardlabError(
                f"{path}:{number}: 'response' (or 'completion') must be a string; keys: {', '.join(obj)}"
            )
        reward = obj.get("reward")
        if isinstance(reward, bool) or not isinstance(reward, int | float) or not math.isfinite(reward):
            raise RewardlabError(f"{path}:{number}: 'reward' must be a finite number, got {reward!r}")
        rows.append({"prompt": prompt, "response": response, "reward": float(reward), "line": number})
    return rows


VALUE_SOURCES = ("reference", "data")


@dataclass
class ALoLConfig(LMTrainConfig):
    """A-LoL hyper-parameters. Defaults: abaheti95/LoL-RL ``lolrl_qlora_llama_hh.py`` ScriptArguments
    unless noted (docs/offline.md, "A-LoL")."""

    # the task: V_ref's reference answers come from its train split, the evaluation from its test split
    env: str = ""
    task_params: dict = field(default_factory=dict)
    data: str = ""  # JSONL of {prompt | messages, response, reward}
    variant: str = "a_lol"  # one of VARIANTS (ScriptArguments.algorithm)
    ppo_clip: float = 0.9  # IS clamped to [1 - ppo_clip, 1 + ppo_clip] (ScriptArguments.ppo_clip)
    kl_beta: float = 0.0  # a_lol_kl only (ScriptArguments.kl_beta; the paper's runs use 0.2)
    clamp_advantage: bool = True  # A = max(R - V, 0); False is the ablation the paper argues against
    priority_sampling: bool = True  # sampling_strategy="good_priority": draw examples proportional to A+
    learning_rate: float = 2e-4  # ScriptArguments.learning_rate (QLoRA)
    lr_scheduler: str = "constant"  # ScriptArguments.lr_scheduler_type
    max_grad_norm: float = 0.3  # ScriptArguments.max_grad_norm
    adam_epsilon: float = 1e-6  # ScriptArguments.adam_epsilon
    batch_size: int = 16  # per_device_train_batch_size 4 x gradient_accumulation_steps 4
    max_completion_length: int = 128  # response tokens kept; the evaluation's max_new_tokens (128)
    # V_ref: "reference" = a value head fit to rewards of the reference's greedy responses on
    # `value_prompts` problems of the task's train split (the code: greedy generations on its dev
    # set); "data" = fit to the dataset's own rewards (ours: no generation, estimates the behaviour
    # policy's value instead of the reference's).
    value_source: str = "reference"
    value_prompts: int = 256
    value_epochs: int = 200  # full-batch Adam steps (ours; the code: 10 epochs of AdamW lr 1e-5)
    value_learning_rate: float = 1e-2

    def validate(self) -> None:
        super().validate()
        if not self.data:
            raise ConfigError(
                'A-LoL needs offline data: set data = "responses.jsonl" ({prompt, response, reward} per line)'
            )
        if not self.env:
            raise ConfigError(
                "A-LoL needs a task (env = NAME): V_ref is fit on the reference's responses to its train "
                "problems and the policy is evaluated greedily on its test split"
            )
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown A-LoL variant {self.variant!r}; valid: {', '.join(VARIANTS)}")
        if self.value_source not in VALUE_SOURCES:
            raise ConfigError(f"value_source {self.value_source!r} is not one of {', '.join(VALUE_SOURCES)}")
        if not 0 <= self.ppo_clip < 1:
            raise ConfigError(
                f"ppo_clip must be in [0, 1) (IS is clamped to [1 - ppo_clip, 1 + ppo_clip]), got {self.ppo_clip}"
            )
        for key in ("batch_size", "max_completion_length", "value_prompts", "value_epochs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.priority_sampling and not self.clamp_advantage and self.variant not in ("r_lol", "wbc"):
            raise ConfigError(
                "priority_sampling draws only examples with positive advantage, so clamp_advantage = false "
                "would change nothing; set priority_sampling = false for the no-clamp ablation"
            )


class ALoL(LMAlgorithm):
    """A-LoL on a causal LM (LoRA): offline data of scored responses, V_ref fit once before the first
    step, then clamped-IS advantage-weighted NLL steps; see the module docstring."""

    config_class = ALoLConfig
    summary = "A-LoL offline policy gradient on scored responses (JSONL); V_ref fit once before training"
    curve_metric = "loss"
    config: ALoLConfig
    # computed once from the reference before the first step and saved, so a resume need not redo them
    state_fields = {"ref_logps": TENSOR, "values": TENSOR, "value_fit_mse": VALUE, "epoch_draws": VALUE}
    rebuilt_fields = ("rows", "rewards")

    def __init__(self, config: ALoLConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.rows = read_scored_responses(config.data)
        self.rewards = torch.tensor([r["reward"] for r in self.rows])
        self.policy.memory_check(
            sequences_per_pass=min(config.micro_batch_size, config.batch_size),
            completion_length=config.max_completion_length,
            reference_copy=not self.policy.lora,
            knob="micro_batch_size (sequences per forward/backward) or max_completion_length",
        )
        self.epoch_draws = 0
        # The reference never changes: its log-probs of every response and V_ref(x) of every prompt are
        # computed once (before any update the LoRA policy *is* the reference).
        self.ref_logps = self.reference_logprobs()
        self.values, self.value_fit_mse = self.fit_values()
        adv = advantages(self.rewards, self.values, self.config.clamp_advantage)
        if self.uses_priority and not (adv > 0).any():
            raise ConfigError(
                f"no example in {config.data!r} has a reward above V_ref(x) (max reward "
                f"{float(self.rewards.max()):.3g}, mean V_ref {float(self.values.mean()):.3g}): A-LoL has nothing to learn from"
            )

    @property
    def uses_priority(self) -> bool:
        c = self.config
        return c.priority_sampling and c.variant not in ("r_lol", "wbc")

    # ---- the reference's fixed quantities -------------------------------------------------------
    def response_logprobs(
        self, indices: list[int], *, reference: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log-probs (with gradients unless ``reference``) of the responses of ``indices``
        and their mask, (len(indices), longest response + EOS)."""
        chunk = [self.rows[j] for j in indices]
        batch = self.policy.encode_completions(
            [r["prompt"] for r in chunk], [r["response"] for r in chunk], self.config.max_completion_length
        )
        mask = batch.completion_mask.float()
        return self.policy.logprobs(batch, reference=reference) * mask, mask

    @torch.no_grad()
    def reference_logprobs(self) -> torch.Tensor:
        """(examples, max_completion_length): the reference's token log-probs of every response, 0 on padding."""
        c = self.config
        out = torch.zeros(len(self.rows), c.max_completion_length)
        for i in range(0, len(self.rows), c.micro_batch_size):
            logps, _ = self.response_logprobs(
                list(range(i, min(i + c.micro_batch_size, len(self.rows)))), reference=True
            )
            out[i : i + len(logps), : logps.shape[1]] = logps
        return out

    @torch.no_grad()
    def prompt_states(self, prompts: list[Any]) -> torch.Tensor:
        """The reference's last-layer hidden state at the last prompt token (V_ref's input)."""
        from rewardlab.llm.sampling import prompt_pass

        states = []
        with self.policy.reference() as ref:
            for i in range(0, len(prompts), self.config.micro_batch_size):
                ids, mask = self.policy.encode_prompts(prompts[i : i + self.config.micro_batch_size])
                states.append(
                    prompt_pass(ref, ids, mask, return_hidden=True).hidden_states[-1][:, -1].float()
                )
        return torch.cat(states)

    def fit_values(self) -> tuple[torch.Tensor, float]:
        """V_ref(x) of every training prompt, and the fit's final MSE."""
        c = self.config
        if c.value_source == "data":
            prompts, targets = [r["prompt"] for r in self.rows], self.rewards
        else:
            from rewardlab.rewards.base import Sample

            examples = list(self.task.examples("train"))[: c.value_prompts]
            prompts, targets = [ex.prompt for ex in examples], []
            with self.policy.reference():  # greedy responses of the reference (the code: do_sample=False)
                for i in range(0, len(examples), c.micro_batch_size):
                    chunk = examples[i : i + c.micro_batch_size]
                    ids, mask = self.policy.encode_prompts([ex.prompt for ex in chunk])
                    texts = self.policy.decode(self.policy.generate(ids, mask, max_new_tokens=c.max_completion_length,
                                                                    greedy=True))  # fmt: skip
                    samples = [Sample(prompt=ex.prompt, completion=t, reference=ex.reference, info=dict(ex.info))
                               for ex, t in zip(chunk, texts)]  # fmt: skip
                    targets.extend(float(v) for v in score(self.reward, samples).total)
            targets = torch.tensor(targets)
        states = self.prompt_states(prompts)
        head = fit_value_head(states, targets, epochs=c.value_epochs, lr=c.value_learning_rate, seed=c.seed)
        with torch.no_grad():
            mse = float((head(states) - targets).pow(2).mean())
            train_states = (
                states if c.value_source == "data" else self.prompt_states([r["prompt"] for r in self.rows])
            )
            return head(train_states), mse

    # ---- one iteration --------------------------------------------------------------------------
    def draw(self) -> np.ndarray:
        c = self.config
        if self.uses_priority:
            p = priority_probabilities(advantages(self.rewards, self.values).numpy())
        else:
            p = None
        self.epoch_draws += c.batch_size
        return self.np_rng.choice(len(self.rows), size=c.batch_size, p=p)

    def step(self) -> dict[str, float]:
        c = self.config
        start = time.perf_counter()
        idx = self.draw()
        self.policy.model.train()
        sums = {"loss": 0.0, "ratio": 0.0, "advantage": 0.0, "reward": 0.0}
        for i in range(0, len(idx), c.micro_batch_size):
            chunk = torch.as_tensor(idx[i : i + c.micro_batch_size])
            logps, mask = self.response_logprobs(chunk.tolist())
            ref = self.ref_logps[chunk, : logps.shape[1]]
            loss = alol_loss(logps, ref, mask, self.rewards[chunk], self.values[chunk], variant=c.variant,
                             ppo_clip=c.ppo_clip, kl_beta=c.kl_beta, clamp_advantage=c.clamp_advantage)  # fmt: skip
            share = len(chunk) / len(idx)  # the batch loss is the mean over all its examples
            (loss * share).backward()
            with torch.no_grad():
                seq_ratio = torch.exp(((logps - ref) * mask).sum(1))
                adv = advantages(self.rewards[chunk], self.values[chunk], c.clamp_advantage)
            sums["loss"] += float(loss.detach()) * share
            sums["ratio"] += float(seq_ratio.mean()) * share
            sums["advantage"] += float(adv.mean()) * share
            sums["reward"] += float(self.rewards[chunk].mean()) * share
        metrics = dict(sums)
        metrics["grad_norm"] = self.optimizer_step()
        metrics["lr"] = self.current_lr()
        metrics["epoch"] = self.epoch_draws / len(self.rows)
        metrics["value_fit_mse"] = self.value_fit_mse
        metrics["time/step"] = time.perf_counter() - start
        metrics["num_threads"] = float(c.num_threads)
        self._samples = [
            {"prompt": self.rows[j]["prompt"], "completion": self.rows[j]["response"], "reward": self.rows[j]["reward"],
             "advantage": float(advantages(self.rewards[j], self.values[j], c.clamp_advantage))}
            for j in idx[: c.samples_per_log]
        ]  # fmt: skip
        return metrics
