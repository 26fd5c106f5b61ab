"""Token-level credit for LM policy optimisation: the pieces token-level PPO (``lm_ppo.py``) and
REINFORCE++ (``reinforce_pp.py``) share, as pure functions of (batch, tokens) tensors.

Every tensor here is (B, T) over completion tokens; ``mask`` is 1 on the tokens the policy sampled
(the trained tokens). In a multi-turn agent episode the completion also holds observation spans
(tool results, user replies) with mask 0: they are not actions, so no function here treats them
as steps (see ``docs/lm_optimisers.md``).

Peers these follow (formulas learned, code our own; parity in tests/llm/test_lm_ppo_parity.py):
verl ``verl/trainer/ppo/core_algos.py`` (``kl_penalty_forward``, ``compute_policy_loss_vanilla``,
``agg_loss`` token-mean) and ``verl/trainer/ppo/ray_trainer.py::apply_kl_penalty``; OpenRLHF
``openrlhf/models/utils.py`` (``compute_approx_kl``, ``compute_reward``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.grpo import LossOutput

KL_ESTIMATORS = ("k1", "k2", "k3")


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token sample estimate of KL(pi || pi_ref) from tokens sampled by pi (Schulman 2020).

    ``k1``: log pi - log pi_ref (unbiased, can be negative); ``k2``: 0.5 (log pi - log pi_ref)^2;
    ``k3``: exp(log pi_ref - log pi) - (log pi_ref - log pi) - 1 (unbiased, >= 0). k3's log-ratio is
    clamped to [-20, 20] and its value to [-10, 10], as verl does, so one token far outside the
    reference cannot overflow the exponential.
    """
    if estimator not in KL_ESTIMATORS:
        raise ConfigError(f"kl_estimator {estimator!r} is not one of {', '.join(KL_ESTIMATORS)}")
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio.square()
    back = torch.clamp(-log_ratio, min=-20.0, max=20.0)
    return torch.clamp(torch.exp(back) - back - 1, min=-10.0, max=10.0)


def last_trained_index(mask: torch.Tensor) -> torch.Tensor:
    """(B,) index of each row's last mask-1 token (-1 for a row without one)."""
    T = mask.shape[1]
    positions = torch.arange(T, device=mask.device).expand_as(mask)
    return torch.where(mask.bool(), positions, torch.full_like(positions, -1)).max(1).values


def token_level_rewards(
    scores: torch.Tensor,
    mask: torch.Tensor,
    kl: torch.Tensor | None = None,
    beta: float = 0.0,
) -> torch.Tensor:
    """Per-token rewards: the sequence score on the last *trained* token, minus ``beta * kl`` on
    every trained token (the KL penalty in the reward).

    The score goes on the last mask-1 token, not the last attended one: an episode whose
    completion ends with an observation (the env's closing message) would otherwise put its
    reward on a token that GAE and the returns skip, and the reward would vanish.
    """
    mask = mask.to(torch.float32)
    rewards = torch.zeros_like(mask)
    last = last_trained_index(mask)
    rows = torch.nonzero(last >= 0).squeeze(1)
    rewards[rows, last[rows]] = scores.to(torch.float32)[rows]
    if kl is not None and beta != 0.0:
        rewards = rewards - beta * kl * mask
    return rewards


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` with the mean and the Bessel-corrected variance over the
    mask-1 entries of the whole batch (verl's ``masked_whiten``); 0 outside the mask."""
    mask = mask.to(x.dtype)
    n = mask.sum()
    if n < 2:
        raise ConfigError(
            f"whitening advantages needs at least 2 trained tokens in the batch, got {int(n)}; "
            "raise batch_size or max_completion_length, or set whiten_advantages = false"
        )
    mean = (x * mask).sum() / n
    var = (((x - mean) ** 2) * mask).sum() / n * (n / (n - 1))
    return (x - mean) * torch.rsqrt(var + eps) * mask


@dataclass
class PPOLossOutput(LossOutput):
    """:class:`LossOutput` plus PPO's own statistics (each None when not computed)."""

    approx_kl: torch.Tensor | None = None  # mean of log pi_old - log pi over trained tokens
    value_loss: torch.Tensor | None = None
    value_clip_fraction: torch.Tensor | None = None
    kl_loss: torch.Tensor | None = None


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    clip_ratio_c: float | None = 3.0,
    num_tokens: float | torch.Tensor | None = None,
) -> PPOLossOutput:
    """Token-level clipped surrogate (Schulman et al. 2017) with dual clip (Ye et al. 2020).

    ``rho = exp(clamp(logp - old_logp, -20, 20))``; per token
    ``l = max(-A rho, -A clip(rho, 1 - epsilon, 1 + epsilon_high))``, and for A < 0 the loss is
    also capped at ``-A clip_ratio_c`` (dual clip: a very unlikely token with a negative advantage
    cannot blow the update up; None turns it off). The loss is the token mean:
    ``sum(l * mask) / num_tokens`` (default this call's trained tokens; pass the update's token
    count when it is split into micro-batches). ``advantages``: (B, T) or (B,).
    """
    if clip_ratio_c is not None and clip_ratio_c <= 1.0:
        raise ConfigError(f"clip_ratio_c must be > 1 (the dual-clip bound), got {clip_ratio_c}")
    mask = mask.to(logprobs.dtype)
    adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    eps_high = epsilon if epsilon_high is None else epsilon_high
    log_ratio = torch.clamp(logprobs - old_logprobs, min=-20.0, max=20.0)
    ratio = torch.exp(log_ratio)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1 - epsilon, 1 + eps_high)
    per_token = torch.maximum(unclipped, clipped)
    if clip_ratio_c is not None:
        per_token = torch.where(adv < 0, torch.minimum(per_token, -adv * clip_ratio_c), per_token)
    total = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=logprobs.dtype)
    loss = (per_token * mask).sum() / total.clamp(min=1.0)
    with torch.no_grad():
        low = ((ratio < 1 - epsilon) & (adv < 0)).to(logprobs.dtype)
        high = ((ratio > 1 + eps_high) & (adv > 0)).to(logprobs.dtype)
        return PPOLossOutput(
            loss=loss,
            kl=None,
            clip_low=masked_mean(low, mask),
            clip_high=masked_mean(high, mask),
            clip_fraction=masked_mean((clipped > unclipped).to(logprobs.dtype), mask),
            approx_kl=masked_mean(-log_ratio, mask),
        )


def kl_loss_term(
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    estimator: str = "k3",
    num_tokens: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """The KL to the reference as a loss term (verl ``use_kl_loss``): token mean of
    :func:`kl_estimate` over trained tokens, with gradients through ``logprobs``."""
    mask = mask.to(logprobs.dtype)
    total = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=logprobs.dtype)
    return (kl_estimate(logprobs, ref_logprobs, estimator) * mask).sum() / total.clamp(min=1.0)


__all__ = [
    "KL_ESTIMATORS",
    "PPOLossOutput",
    "clipped_policy_loss",
    "kl_estimate",
    "kl_loss_term",
    "last_trained_index",
    "masked_mean",
    "masked_whiten",
    "token_level_rewards",
]
