"""RLOO: REINFORCE Leave-One-Out.

Papers: Kool, van Hoof, Welling 2019, "Buy 4 REINFORCE Samples, Get a Baseline for Free!";
Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for Learning from
Human Feedback in LLMs" (arXiv 2402.14740).

Reference code the numbers are checked against: TRL 1.16.0, ``trl/trainer/rloo_trainer.py``
(``RLOOTrainer._generate_and_score_completions``: KL as a reward penalty and the leave-one-out
baseline; ``RLOOTrainer._compute_loss``: sequence-level clipped ratio) and
``trl/trainer/rloo_config.py`` for the defaults (tests/llm/test_loss_parity.py).

One iteration (``RLOO.step``)::

    prompts  <- next batch_size prompts; G = num_generations completions each
    r_i      <- reward_i - beta * sum_t (old_logp - ref_logp)          # k1 KL as a reward penalty
    A_i      <- r_i - mean_{j != i} r_j                                  # rloo_advantages
    loss     <- mean_i -min(rho_i A_i, clip(rho_i, 1-eps, 1+eps) A_i),   rho_i = exp(sum_t logp - sum_t old_logp)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.grpo import STD_EPS, LossOutput, nanstd
from rewardlab.llm.online import OnlineConfig, OnlineRL


def rloo_kl_penalty(
    rewards: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rewards - beta * kl, kl)`` with the sequence KL ``sum_t (old_logp - ref_logp) * mask``
    (the first-order k1 estimate, which can be negative per token, as in the RLOO paper)."""
    kl = ((old_logprobs - ref_logprobs) * mask).sum(-1)
    return rewards - beta * kl, kl


def rloo_advantages(rewards: torch.Tensor, num_generations: int, normalize: bool = False) -> torch.Tensor:
    """Leave-one-out advantages ``A_i = r_i - (sum_j r_j - r_i) / (n - 1)`` within each group.

    ``rewards``: 1-D, the ``num_generations`` completions of each prompt consecutive. NaN rewards
    (unscorable) are left out of their siblings' baselines and get advantage 0. ``normalize``
    whitens the advantages over the batch ``(A - mean) / (std + 1e-4)``.
    """
    if num_generations < 2:
        raise ConfigError(
            f"RLOO needs num_generations >= 2 for a leave-one-out baseline, got {num_generations}"
        )
    if rewards.dim() != 1 or rewards.numel() % num_generations:
        raise ConfigError(
            f"rewards must be a 1-D tensor whose length is a multiple of num_generations={num_generations}; "
            f"got shape {tuple(rewards.shape)}"
        )
    grouped = rewards.view(-1, num_generations)
    scorable = (~torch.isnan(grouped)).sum(1, keepdim=True)
    baselines = (torch.nansum(grouped, 1, keepdim=True) - grouped) / (scorable - 1)
    advantages = rewards - baselines.view(-1)
    if normalize:
        advantages = (advantages - torch.nanmean(advantages)) / (nanstd(advantages) + STD_EPS)
    return torch.nan_to_num(advantages, nan=0.0)


def rloo_loss_terms(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
) -> LossOutput:
    """:func:`rloo_loss` plus its clip fractions."""
    mask = mask.to(logprobs.dtype)
    eps_high = epsilon_high if epsilon_high is not None else epsilon
    if old_logprobs is None:
        old_logprobs = logprobs.detach()
    seq_logp = (logprobs * mask).sum(1)
    old_seq_logp = (old_logprobs * mask).sum(1)
    ratio = torch.exp(seq_logp - old_seq_logp)  # (B,) sequence-level importance ratio
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + eps_high)
    loss = (-torch.min(ratio * advantages, clipped * advantages)).mean()
    with torch.no_grad():
        low = ((ratio < 1 - epsilon) & (advantages < 0)).to(logprobs.dtype)
        high = ((ratio > 1 + eps_high) & (advantages > 0)).to(logprobs.dtype)
        return LossOutput(
            loss=loss,
            kl=None,
            clip_low=low.mean(),
            clip_high=high.mean(),
            clip_fraction=(low + high).clamp(max=1).mean(),
        )


def rloo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
) -> torch.Tensor:
    """Clipped sequence-level REINFORCE loss of one micro-batch: mean over sequences of
    ``-min(rho A, clip(rho, 1-epsilon, 1+epsilon_high) A)``, ``rho = exp(sum_t logp - sum_t old_logp)``.

    Shapes: ``logprobs``, ``old_logprobs``, ``mask``: (batch, tokens); ``advantages``: (batch,).
    ``old_logprobs=None`` means on-policy (``logprobs.detach()``).
    """
    return rloo_loss_terms(
        logprobs, old_logprobs, advantages, mask, epsilon=epsilon, epsilon_high=epsilon_high
    ).loss


@dataclass
class RLOOConfig(OnlineConfig):
    """RLOO hyper-parameters. Defaults from TRL 1.16.0 ``trl/trainer/rloo_config.py`` unless noted."""

    learning_rate: float = 1e-6  # TRL RLOOConfig.learning_rate
    num_generations: int = 2  # TRL RLOOConfig.num_generations
    beta: float = 0.05  # TRL RLOOConfig.beta: weight of the k1 KL penalty subtracted from the reward
    epsilon: float = 0.2  # TRL RLOOConfig.epsilon
    epsilon_high: float | None = None  # TRL RLOOConfig.epsilon_high (None = epsilon)
    normalize_advantages: bool = False  # TRL RLOOConfig.normalize_advantages


class RLOO(OnlineRL):
    """REINFORCE Leave-One-Out with TRL's sequence-level clipped loss; see the module docstring."""

    config_class = RLOOConfig
    summary = "RLOO (REINFORCE leave-one-out) on a causal LM (LoRA), KL as a reward penalty"
    gpu_ready = True  # rewardlab.core.device: the policy, its batches and the loss on config.device
    config: RLOOConfig

    def needs_old_logprobs(self) -> bool:
        return self.config.beta != 0.0  # the KL penalty is measured on the sampling policy

    def adjust_rewards(self, rewards: torch.Tensor, parts: dict, metrics: dict) -> torch.Tensor:
        if self.config.beta == 0.0:
            return rewards
        shaped, kl = rloo_kl_penalty(
            rewards, parts["old"], parts["ref"], parts["batch"].completion_mask, self.config.beta
        )
        metrics["kl"] = float(kl.mean())
        return shaped

    def compute_advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        return rloo_advantages(rewards, self.config.num_generations, self.config.normalize_advantages)

    def micro_batch_loss(self, logprobs, old_logprobs, ref_logprobs, advantages, mask, num_tokens, num_micro):
        out = rloo_loss_terms(
            logprobs,
            old_logprobs,
            advantages,
            mask,
            epsilon=self.config.epsilon,
            epsilon_high=self.config.epsilon_high,
        )
        # a mean over sequences: weight each micro-batch by its share of the batch's sequences
        share = len(advantages) / self.rollout_size()
        return out.loss * share, out

    def rollout_size(self) -> int:
        return len(self.rollout.batch) if self.rollout is not None else 1


__all__ = ["RLOO", "RLOOConfig", "rloo_advantages", "rloo_kl_penalty", "rloo_loss", "rloo_loss_terms"]
