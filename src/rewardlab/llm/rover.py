"""ROVER: Random Policy Valuation for LLM reasoning (He et al. 2025, "Random Policy Valuation is
Enough for LLM Reasoning with Verifiable Rewards", arXiv 2509.24981).

The tabular fact behind it (:func:`tree_uniform_q`, :func:`greedy_leaf`): in a finite-horizon
deterministic tree MDP whose leaves pay 0 or 1, acting greedily with respect to the Q-function of
the *uniform random* policy is optimal, so no policy iteration is needed, only the valuation of
one fixed policy. For LMs the Q-function is parameterised by the policy's own log-ratio to the
sampling policy, and its uniform-policy next-state value is the vocabulary mean of that log-ratio.

Reference code the formula is read from: github.com/yuxiaooye/ROVER,
``Math/verl/workers/actor/dp_actor.py`` (``update_policy``: ``next_q``, ``target``, ``logIS``,
``use_rover_clip``), ``Math/verl/trainer/ppo/core_algos.py::compute_rover_loss`` and
``Math/verl/utils/torch_functional.py::sum_log_softmax`` (docs/lm_optimisers_rover_rlp.md).

One iteration (``ROVER.step``)::

    prompts   <- next batch_size prompts; G completions each
    r~_i      <- r_i - mean(group)  [/ (std(group) + 1e-4) if scale_rewards = "group"]  # every token
    Q^(s_t,a_t) = rover_t * (log pi(a_t|s_t) - log pi_old(a_t|s_t))
    y_t       = r~ + rover_t * mean_v (log pi(v|s_{t+1}) - log pi_old(v|s_{t+1}))   (0 bootstrap at the end)
    loss      = masked mean of (Q^ - stopgrad(y))^2                    # no critic, no reference, no KL
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.grpo import LossOutput, group_advantages
from rewardlab.llm.online import OnlineConfig, OnlineRL

VALID_COMBINATIONS = (
    "rover: beta = 0 (no reference, no KL), num_generations >= 2; "
    "a KL penalty to a reference: grpo or rloo with beta > 0"
)


def rover_targets(
    rewards: torch.Tensor,
    vocab_mean: torch.Tensor,
    old_vocab_mean: torch.Tensor,
    mask: torch.Tensor,
    *,
    rover_t: float = 1.0,
) -> torch.Tensor:
    """Detached targets ``y_t = r~ + rover_t * m_{t+1} * mask_{t+1}``, ``m = vocab_mean - old_vocab_mean``.

    ``rewards``: (B,) centred outcome rewards r~ (or (B, T) per token); ``vocab_mean`` / ``old_vocab_mean``: (B, T) the
    vocabulary mean of log pi / log pi_old at each completion position (position t is the state
    before token t); ``mask``: (B, T). The next-state term is 0 at each sequence's last token.
    """
    mask = mask.to(vocab_mean.dtype)
    m = (vocab_mean - old_vocab_mean).detach()
    next_value = torch.zeros_like(m)
    next_value[:, :-1] = m[:, 1:] * mask[:, 1:]
    r = rewards.detach().to(m.dtype)
    return (r.unsqueeze(1) if r.dim() == 1 else r) + rover_t * next_value  # (B, T) from the agent loop


def rover_loss_terms(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    vocab_mean: torch.Tensor,
    old_vocab_mean: torch.Tensor,
    rewards: torch.Tensor,
    mask: torch.Tensor,
    *,
    rover_t: float = 1.0,
    clip_ratio: float | None = None,
) -> LossOutput:
    """:func:`rover_loss` plus the fractions of tokens whose Q^ was clipped."""
    mask = mask.to(logprobs.dtype)
    target = rover_targets(rewards, vocab_mean, old_vocab_mean, mask, rover_t=rover_t)
    q = rover_t * (logprobs - old_logprobs)
    high = low = torch.zeros_like(q, dtype=torch.bool)
    if clip_ratio is not None:
        # the reference's use_rover_clip: once the log-ratio is past log(1 +- eps) *and* the
        # target would push it further, Q^ becomes that constant, so those tokens get no gradient
        hi, lo = float(np.log1p(clip_ratio)), float(np.log1p(-clip_ratio))
        high = (target > q) & (q > hi)
        low = (target < q) & (q < lo)
        q = torch.where(high, torch.full_like(q, hi), torch.where(low, torch.full_like(q, lo), q))
    loss = (((q - target) ** 2) * mask).sum() / mask.sum().clamp(min=1.0)
    with torch.no_grad():
        count = mask.sum().clamp(min=1.0)
        frac_low = (low.to(mask.dtype) * mask).sum() / count
        frac_high = (high.to(mask.dtype) * mask).sum() / count
        return LossOutput(
            loss=loss, kl=None, clip_low=frac_low, clip_high=frac_high, clip_fraction=frac_low + frac_high
        )


def rover_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    vocab_mean: torch.Tensor,
    old_vocab_mean: torch.Tensor,
    rewards: torch.Tensor,
    mask: torch.Tensor,
    *,
    rover_t: float = 1.0,
    clip_ratio: float | None = None,
) -> torch.Tensor:
    """Masked token mean of ``(Q^ - y)^2`` (the reference's ``compute_rover_loss``).

    Shapes: ``logprobs``, ``old_logprobs`` (log pi / log pi_old of the taken tokens),
    ``vocab_mean``, ``old_vocab_mean`` (vocabulary means of log pi / log pi_old at each position),
    ``mask``: (B, T); ``rewards``: (B,), the group-centred outcome rewards. ``clip_ratio`` (off by
    default, as the reference) bounds the log-ratio to [log(1 - eps), log(1 + eps)] where the target
    pushes past it. Gradients flow through ``logprobs`` only.
    """
    return rover_loss_terms(
        logprobs,
        old_logprobs,
        vocab_mean,
        old_vocab_mean,
        rewards,
        mask,
        rover_t=rover_t,
        clip_ratio=clip_ratio,
    ).loss


# ---- the tabular theorem ------------------------------------------------------------------------


def random_tree(
    rng: np.random.Generator, depth: int = 3, max_branching: int = 3, p_success: float = 0.3
) -> Any:
    """A random tree: a leaf is 0 or 1 (success with ``p_success``); an inner node is a list of
    1..``max_branching`` children; every leaf sits at ``depth``."""
    if depth == 0:
        return int(rng.random() < p_success)
    return [
        random_tree(rng, depth - 1, max_branching, p_success)
        for _ in range(int(rng.integers(1, max_branching + 1)))
    ]


def tree_uniform_q(node: Any) -> float:
    """Value of ``node`` under the uniform random policy: the backward average of its children."""
    if isinstance(node, int):
        return float(node)
    return float(np.mean([tree_uniform_q(child) for child in node]))


def tree_has_success(node: Any) -> bool:
    if isinstance(node, int):
        return node == 1
    return any(tree_has_success(child) for child in node)


def greedy_leaf(node: Any, score: Any) -> int:
    """Follow ``argmax_a score(child_a)`` from ``node`` to a leaf and return the leaf's reward
    (ties go to the first child, so a wrong score cannot hide behind a lucky tie-break)."""
    while not isinstance(node, int):
        node = node[int(np.argmax([score(child) for child in node]))]
    return node


def sampled_return(rng: np.random.Generator):
    """A score from one uniform random rollout below each child: the single-sample return."""

    def score(node: Any) -> float:
        while not isinstance(node, int):
            node = node[int(rng.integers(len(node)))]
        return float(node)

    return score


# ---- the algorithm --------------------------------------------------------------------------------


@dataclass
class ROVERConfig(OnlineConfig):
    """ROVER hyper-parameters; defaults from the reference's Math scripts unless noted."""

    learning_rate: float = 1e-6  # the paper's lr for Countdown and Math (full weights)
    num_generations: int = 8  # n = 8 (Math); the Countdown scripts use 5
    rover_t: float = 1.0  # rho, the scale of Q^ = rho * log-ratio and of the next-state value
    # "none": r~ = r - mean(group), the Countdown scripts; "group": / (std + 1e-4), the Math script
    scale_rewards: str = "none"
    use_rover_clip: bool = False  # the reference's use_rover_clip (off by default)
    clip_ratio: float = 0.2  # eps of use_rover_clip

    def validate(self) -> None:
        if self.num_generations < 2:
            raise ConfigError(
                f"num_generations={self.num_generations}: ROVER centres each reward on its group's "
                f"mean, which needs num_generations >= 2. Valid: {VALID_COMBINATIONS}"
            )
        if self.beta != 0.0:
            raise ConfigError(
                f"beta={self.beta}: ROVER has no reference model and no KL term, so a KL coefficient "
                f"cannot be used. Valid: {VALID_COMBINATIONS}"
            )
        super().validate()
        if self.scale_rewards not in ("group", "none"):
            raise ConfigError(f"scale_rewards {self.scale_rewards!r} is not one of group, none")
        if self.rover_t <= 0:
            raise ConfigError(f"rover_t must be > 0, got {self.rover_t}")
        if not 0 < self.clip_ratio < 1:
            raise ConfigError(f"clip_ratio must be in (0, 1), got {self.clip_ratio}")


class ROVER(OnlineRL):
    """ROVER on a causal LM (LoRA): least squares of the log-ratio Q^ onto the uniform-policy target."""

    config_class = ROVERConfig
    summary = "ROVER (random-policy valuation) on a causal LM (LoRA): no critic, no reference, no KL"
    config: ROVERConfig
    vocab_mean_logprobs = True

    def compute_advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        # r~, the centred outcome reward every token's target starts from
        return group_advantages(rewards, self.config.num_generations, self.config.scale_rewards)

    def micro_batch_loss(self, logprobs, old_logprobs, ref_logprobs, advantages, mask, num_tokens, num_micro):
        # on-policy (num_iterations 1) pi_old is the current policy: Q^ is 0 in value, not in gradient
        old = logprobs.detach() if old_logprobs is None else old_logprobs
        out = rover_loss_terms(
            logprobs[..., 0],
            old[..., 0],
            logprobs[..., 1],
            old[..., 1],
            advantages,
            mask,
            rover_t=self.config.rover_t,
            clip_ratio=self.config.clip_ratio if self.config.use_rover_clip else None,
        )
        # a token mean over the whole batch: weight each micro-batch by its share of the tokens
        return out.loss * (mask.sum() / num_tokens.clamp(min=1.0)), out


__all__ = [
    "ROVER",
    "ROVERConfig",
    "greedy_leaf",
    "random_tree",
    "rover_loss",
    "rover_loss_terms",
    "rover_targets",
    "sampled_return",
    "tree_has_success",
    "tree_uniform_q",
]
