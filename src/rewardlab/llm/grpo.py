"""GRPO: Group Relative Policy Optimization and its loss variants (Dr. GRPO, DAPO, GSPO, CISPO).

Papers: Shao et al. 2024, "DeepSeekMath" (GRPO, arXiv 2402.03300); Liu et al. 2025, "Understanding
R1-Zero-Like Training" (Dr. GRPO, arXiv 2503.20783); Yu et al. 2025, "DAPO" (arXiv 2503.14476);
Zheng et al. 2025, "Group Sequence Policy Optimization" (GSPO, arXiv 2507.18071); MiniMax 2025,
"MiniMax-M1" (CISPO, arXiv 2506.13585); INTELLECT-2 2025 (two-sided clip ``delta``).

Reference code the numbers are checked against: TRL 1.16.0, ``trl/trainer/grpo_trainer.py``
(``GRPOTrainer._generate_and_score_completions`` for the advantages, ``GRPOTrainer._compute_loss``
for the loss) and ``trl/trainer/grpo_config.py`` for the defaults (tests/llm/test_loss_parity.py).

One iteration (``GRPO.step``)::

    prompts  <- next batch_size prompts of the task's train split
    for each prompt: sample G = num_generations completions with the current policy
    rewards  <- the task's Reward on every (prompt, completion)
    A_i      <- (r_i - mean(group)) / (std(group) + 1e-4)            # group_advantages
    repeat num_iterations (mu) times, over micro-batches:
        loss <- grpo_loss(logp, old_logp, ref_logp, A, mask)          # one optimizer step per pass
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.online import OnlineConfig, OnlineRL

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo")
SCALE_REWARDS = ("group", "batch", "none")
IMPORTANCE_SAMPLING_LEVELS = ("token", "sequence")

#: added to the standard deviation (outside the square root), as TRL does
STD_EPS = 1e-4


def nanstd(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Bessel-corrected standard deviation ignoring NaNs; NaN where fewer than two values exist.

    The operations are in TRL's order (``trl/trainer/utils.py::nanstd``) so results agree bit for bit.
    """
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    variance = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True)
    count = torch.sum(~torch.isnan(x), dim=dim, keepdim=True)
    correction = count / (count - 1)
    correction = torch.where(count > 1, correction, torch.full_like(correction, float("nan")))
    std = torch.sqrt(variance * correction)
    return std.squeeze(dim) if dim is not None else std.squeeze()


def group_advantages(
    rewards: torch.Tensor, num_generations: int, scale_rewards: str = "group"
) -> torch.Tensor:
    """GRPO advantages ``(r - group mean) / (std + 1e-4)``.

    ``rewards``: 1-D float tensor, the ``num_generations`` completions of each prompt consecutive.
    ``scale_rewards``: ``"group"`` (std within each group, GRPO), ``"batch"`` (std over the whole
    batch, mean still per group: Lite-PPO) or ``"none"`` (no division: Dr. GRPO). The std is
    unbiased (Bessel), and NaN rewards (unscorable completions) are left out of the statistics and
    get advantage 0, as in TRL.
    """
    if scale_rewards not in SCALE_REWARDS:
        raise ConfigError(f"scale_rewards {scale_rewards!r} is not one of {', '.join(SCALE_REWARDS)}")
    rewards = torch.as_tensor(rewards, dtype=torch.float32) if not torch.is_tensor(rewards) else rewards
    if rewards.dim() != 1 or rewards.numel() % num_generations:
        raise ConfigError(
            f"rewards must be a 1-D tensor whose length is a multiple of num_generations={num_generations}; "
            f"got shape {tuple(rewards.shape)}"
        )
    grouped = rewards.view(-1, num_generations)
    mean = torch.nanmean(grouped, dim=1).repeat_interleave(num_generations)
    advantages = rewards - mean
    if scale_rewards != "none":
        if scale_rewards == "group":
            std = nanstd(grouped, dim=1).repeat_interleave(num_generations) if num_generations > 1 else None
        else:
            std = nanstd(rewards).expand_as(rewards) if rewards.numel() > 1 else None
        if std is None:
            std = torch.zeros_like(rewards)
        advantages = advantages / (std + STD_EPS)
    return torch.nan_to_num(advantages, nan=0.0)


@dataclass
class LossOutput:
    """A micro-batch loss with the statistics worth logging (plain tensors, detached)."""

    loss: torch.Tensor
    kl: torch.Tensor | None  # masked token mean of the KL estimate (None when not computed)
    clip_low: torch.Tensor  # fraction of tokens whose ratio fell below 1 - epsilon with A < 0
    clip_high: torch.Tensor  # fraction above 1 + epsilon_high with A > 0
    clip_fraction: torch.Tensor  # either


def _masked_token_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:  # sequence-level quantities: one value per sequence
        return x.float().mean()
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def grpo_loss_terms(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor | None,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    delta: float | None = None,
    importance_sampling_level: str = "token",
    max_completion_length: int | None = None,
    num_items_in_batch: float | torch.Tensor | None = None,
) -> LossOutput:
    """:func:`grpo_loss` plus its clip fractions and KL (see there for the arguments)."""
    if loss_type not in LOSS_TYPES:
        raise ConfigError(f"loss_type {loss_type!r} is not one of {', '.join(LOSS_TYPES)}")
    if importance_sampling_level not in IMPORTANCE_SAMPLING_LEVELS:
        raise ConfigError(
            f"importance_sampling_level {importance_sampling_level!r} is not one of "
            f"{', '.join(IMPORTANCE_SAMPLING_LEVELS)}"
        )
    if beta != 0.0 and ref_logprobs is None:
        raise ConfigError("beta != 0 needs ref_logprobs (the reference policy's per-token log-probs)")
    mask = mask.to(logprobs.dtype)
    eps_low = epsilon
    eps_high = epsilon_high if epsilon_high is not None else epsilon
    adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages  # (B, 1)
    # On-policy (one gradient step per batch) the old policy is the current one: the ratio is 1 in
    # value but its gradient is the policy gradient.
    if old_logprobs is None:
        old_logprobs = logprobs.detach()

    log_ratio = logprobs - old_logprobs  # (B, T)
    if importance_sampling_level == "token":
        log_weights = log_ratio
    else:  # GSPO: length-normalised sequence log-ratio, broadcast over tokens
        log_weights = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    ratio = torch.exp(log_weights)  # no clamp of the log-ratio, as TRL

    if beta != 0.0:
        # k3 estimator of KL(pi || pi_ref) (Schulman 2020), always >= 0, unclamped
        # (written with the difference twice, as TRL does, so even the gradients match bit for bit)
        per_token_kl = torch.exp(ref_logprobs - logprobs) - (ref_logprobs - logprobs) - 1

    if loss_type == "cispo":
        # CISPO clips the (detached) importance weight, never the gradient of log pi
        weight = torch.clamp(ratio, max=eps_high).detach()
        per_token_loss = -weight * adv * logprobs
    else:
        clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
        unclipped = (
            torch.clamp(ratio, max=delta) if delta is not None else ratio
        )  # INTELLECT-2 two-sided clip
        per_token_loss = -torch.min(unclipped * adv, clipped * adv)
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl

    if loss_type == "grpo":  # mean over each sequence's tokens, then over sequences
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":  # token mean over this micro-batch
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":  # a constant normaliser: no length bias
        length = max_completion_length if max_completion_length is not None else mask.shape[1]
        loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * length)
    else:  # dapo, cispo: token mean over the whole generation batch
        total = mask.sum() if num_items_in_batch is None else torch.as_tensor(num_items_in_batch)
        loss = (per_token_loss * mask).sum() / total.clamp(min=1.0)

    with torch.no_grad():
        low = (ratio < 1 - eps_low) & (adv < 0)
        high = (ratio > 1 + eps_high) & (adv > 0)
        return LossOutput(
            loss=loss,
            kl=_masked_token_mean(per_token_kl, mask) if beta != 0.0 else None,
            clip_low=_masked_token_mean(low.to(logprobs.dtype), mask),
            clip_high=_masked_token_mean(high.to(logprobs.dtype), mask),
            clip_fraction=_masked_token_mean((low | high).to(logprobs.dtype), mask),
        )


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor | None,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    delta: float | None = None,
    importance_sampling_level: str = "token",
    max_completion_length: int | None = None,
    num_items_in_batch: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """The scalar GRPO-family loss of one micro-batch on one process.

    Shapes: ``logprobs``, ``old_logprobs``, ``ref_logprobs``, ``mask``: (batch, tokens), per-token
    log-probabilities of the completion tokens (``mask`` 1 on real completion tokens);
    ``advantages``: (batch,). ``old_logprobs=None`` means on-policy (``logprobs.detach()``);
    ``ref_logprobs`` may be None when ``beta == 0``.

    ``loss_type``: ``grpo`` (sequence mean of token means), ``bnpo`` (token mean of the micro-batch),
    ``dr_grpo`` (sum / (batch * max_completion_length), which defaults to the tensor's token
    dimension), ``dapo`` (sum / ``num_items_in_batch``: pass the token count of the whole generation
    batch when it is split into micro-batches, default this micro-batch's count) and ``cispo``
    (clipped, detached importance weight times log pi; use ``epsilon_high`` about 5). ``epsilon`` /
    ``epsilon_high``: lower / upper clip (DAPO clip-higher); ``delta``: cap on the unclipped ratio;
    ``beta``: weight of the k3 KL to the reference; ``importance_sampling_level="sequence"`` is GSPO.
    """
    return grpo_loss_terms(
        logprobs,
        old_logprobs,
        ref_logprobs,
        advantages,
        mask,
        loss_type=loss_type,
        epsilon=epsilon,
        epsilon_high=epsilon_high,
        beta=beta,
        delta=delta,
        importance_sampling_level=importance_sampling_level,
        max_completion_length=max_completion_length,
        num_items_in_batch=num_items_in_batch,
    ).loss


def overlong_penalty(lengths: torch.Tensor, max_completion_length: int, buffer: int) -> torch.Tensor:
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13) of completion lengths in tokens: 0 up
    to ``L_max - buffer``, then falling linearly to -1 at ``L_max``; the formula of the
    ``overlong_penalty`` reward (rewards/length.py), computed once there."""
    from rewardlab.rewards.length import soft_overlong_penalty

    return torch.as_tensor(
        soft_overlong_penalty(lengths.cpu().numpy(), max_completion_length, buffer),
        dtype=torch.float32,
        device=lengths.device,
    )


@dataclass
class GRPOConfig(OnlineConfig):
    """GRPO hyper-parameters. Defaults from TRL 1.16.0 ``trl/trainer/grpo_config.py`` unless noted."""

    learning_rate: float = 1e-6  # TRL GRPOConfig.learning_rate
    num_generations: int = 8  # TRL GRPOConfig.num_generations (G)
    num_iterations: int = 1  # TRL GRPOConfig.num_iterations (mu)
    beta: float = 0.0  # TRL GRPOConfig.beta (0 since TRL 0.19: no reference model needed)
    epsilon: float = 0.2  # TRL GRPOConfig.epsilon
    epsilon_high: float | None = None  # TRL GRPOConfig.epsilon_high (None = epsilon); DAPO uses 0.28
    delta: float | None = None  # TRL GRPOConfig.delta (INTELLECT-2 two-sided clip; off)
    loss_type: str = "dapo"  # TRL GRPOConfig.loss_type (default since TRL 0.22)
    scale_rewards: str = "group"  # TRL GRPOConfig.scale_rewards
    importance_sampling_level: str = "token"  # TRL GRPOConfig.importance_sampling_level ("sequence" = GSPO)
    # DAPO options (Yu et al. 2025): soft overlong punishment and dynamic sampling, both off as in TRL
    overlong_buffer: int = 0  # tokens before max_completion_length where the penalty starts; 0 = off
    overlong_penalty_factor: float = 1.0  # DAPO's penalty weight
    dynamic_sampling: bool = False  # drop groups whose rewards are all equal (zero advantage)

    def validate(self) -> None:
        super().validate()
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"loss_type {self.loss_type!r} is not one of {', '.join(LOSS_TYPES)}")
        if self.scale_rewards not in SCALE_REWARDS:
            raise ConfigError(
                f"scale_rewards {self.scale_rewards!r} is not one of {', '.join(SCALE_REWARDS)}"
            )
        if self.importance_sampling_level not in IMPORTANCE_SAMPLING_LEVELS:
            raise ConfigError(
                f"importance_sampling_level {self.importance_sampling_level!r} is not one of "
                f"{', '.join(IMPORTANCE_SAMPLING_LEVELS)}"
            )
        if self.overlong_buffer < 0 or self.overlong_buffer >= self.max_completion_length:
            raise ConfigError(
                f"overlong_buffer {self.overlong_buffer} must be in [0, max_completion_length="
                f"{self.max_completion_length})"
            )


class GRPO(OnlineRL):
    """GRPO with TRL's loss variants; see the module docstring for the iteration."""

    config_class = GRPOConfig
    summary = "GRPO / Dr. GRPO / DAPO / GSPO / CISPO on a causal LM (LoRA), group-relative advantages"
    gpu_ready = True  # rewardlab.core.device: the policy, its batches and the loss on config.device
    config: GRPOConfig

    def shape_rewards(self, rewards: torch.Tensor, lengths: torch.Tensor, metrics: dict) -> torch.Tensor:
        cfg = self.config
        if cfg.overlong_buffer > 0:
            penalty = cfg.overlong_penalty_factor * overlong_penalty(
                lengths, cfg.max_completion_length, cfg.overlong_buffer
            )
            metrics["overlong_penalty"] = float(penalty.mean())
            rewards = rewards + penalty
        return rewards

    def compute_advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        return group_advantages(rewards, self.config.num_generations, self.config.scale_rewards)

    def keep_groups(self, rewards: torch.Tensor) -> torch.Tensor | None:
        if not self.config.dynamic_sampling:
            return None
        grouped = rewards.view(-1, self.config.num_generations)
        return ~torch.isclose(grouped.max(1).values, grouped.min(1).values)

    def micro_batch_loss(self, logprobs, old_logprobs, ref_logprobs, advantages, mask, num_tokens, num_micro):
        cfg = self.config
        out = grpo_loss_terms(
            logprobs,
            old_logprobs,
            ref_logprobs,
            advantages,
            mask,
            loss_type=cfg.loss_type,
            epsilon=cfg.epsilon,
            epsilon_high=cfg.epsilon_high,
            beta=cfg.beta,
            delta=cfg.delta,
            importance_sampling_level=cfg.importance_sampling_level,
            max_completion_length=cfg.max_completion_length,
            num_items_in_batch=num_tokens,
        )
        # dapo / cispo already divide by the whole batch's token count; the others are per-micro-batch
        # means and are averaged over the micro-batches (TRL divides them by gradient accumulation).
        loss = out.loss if cfg.loss_type in ("dapo", "cispo") else out.loss / num_micro
        return loss, out


__all__ = [
    "GRPO",
    "GRPOConfig",
    "LossOutput",
    "group_advantages",
    "grpo_loss",
    "grpo_loss_terms",
    "nanstd",
    "overlong_penalty",
]
