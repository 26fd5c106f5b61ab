"""REINFORCE++: PPO's clipped token-level surrogate without a critic; the baseline is a global
normalisation of KL-shaped returns over the whole batch.

Paper: Hu 2025, "REINFORCE++: A Simple and Efficient Approach for Aligning Large Language Models"
(arXiv 2501.03262). Its definition here is OpenRLHF's (``openrlhf/trainer/ppo_utils/experience_maker.py``
``compute_advantages_and_returns`` with ``advantage.estimator`` ``reinforce`` / ``reinforce_baseline``,
``get_cumulative_returns``; ``openrlhf/models/utils.py::compute_reward``), checked in
tests/llm/test_lm_ppo_parity.py.

One rollout::

    prompts  <- next batch_size prompts; G completions each (G = 1; baseline = "group" needs G >= 2
                and subtracts each group's mean score first: REINFORCE++-baseline)
    r_t      <- score on the last trained token - beta * KL_t(old || ref)      (KL in the reward)
    G_t      <- sum over later trained tokens t' >= t of gamma^(steps) r_t'   (reinforce_pp_returns)
    A_t      <- (G_t - mean) / std over every trained token of the batch     (global normalisation)
    loss     <- clipped_policy_loss(A) [+ beta * KL loss when kl_penalty = "loss"]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.online import OnlineConfig, OnlineRL
from rewardlab.llm.token_credit import (
    KL_ESTIMATORS,
    clipped_policy_loss,
    kl_estimate,
    kl_loss_term,
    masked_mean,
    token_level_rewards,
)

BASELINES = ("none", "group")
KL_PENALTIES = ("reward", "loss")


def reinforce_pp_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Discounted reward-to-go over the trained tokens of each row, 0 off the mask.

    ``G_t = r_t + gamma G_t'`` with t' the next mask-1 token: observation spans (mask 0 inside a
    multi-turn completion) are skipped, neither cutting the return (verl #7278, where they reset
    it) nor counting as discount steps.
    """
    mask = mask.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    for t in range(rewards.shape[1] - 1, -1, -1):
        step = mask[:, t].bool()
        g = rewards[:, t] + gamma * running
        returns[:, t] = torch.where(step, g, torch.zeros_like(g))
        running = torch.where(step, g, running)
    return returns


def global_normalize(advantages: torch.Tensor, mask: torch.Tensor, std: bool = True) -> torch.Tensor:
    """``(A - mean) / sqrt(max(var, 1e-8))`` with mean and (biased) variance over every trained
    token of the batch, as OpenRLHF normalises REINFORCE++; ``std=False`` only centres. 0 off the mask."""
    mask = mask.to(advantages.dtype)
    n = mask.sum().clamp(min=1.0)
    mean = (advantages * mask).sum() / n
    if not std:
        return (advantages - mean) * mask
    var = ((advantages - mean).pow(2) * mask).sum() / n
    return (advantages - mean) * var.clamp(min=1e-8).rsqrt() * mask


def reinforce_pp_advantages(
    scores: torch.Tensor,
    mask: torch.Tensor,
    *,
    kl: torch.Tensor | None = None,
    beta: float = 0.0,
    gamma: float = 1.0,
    baseline: str = "none",
    num_generations: int = 1,
    normalize_std: bool = True,
) -> torch.Tensor:
    """REINFORCE++ advantages (B, T) from sequence scores (B,), the trained-token mask and the
    per-token KL estimate of the sampling policy to the reference (see the module docstring)."""
    if baseline not in BASELINES:
        raise ConfigError(f"baseline {baseline!r} is not one of {', '.join(BASELINES)}")
    scores = scores.to(torch.float32)
    if baseline == "group":
        if num_generations < 2 or scores.numel() % num_generations:
            raise ConfigError(
                f"baseline = 'group' (REINFORCE++-baseline) subtracts the mean of each prompt's group and "
                f"needs num_generations >= 2 dividing the batch, got {num_generations} for {scores.numel()} "
                "completions; valid: baseline = 'none' with any num_generations, 'group' with num_generations >= 2"
            )
        grouped = scores.view(-1, num_generations)
        scores = (grouped - grouped.mean(1, keepdim=True)).view(-1)
    rewards = token_level_rewards(scores, mask, kl, beta)
    return global_normalize(reinforce_pp_returns(rewards, mask, gamma), mask, normalize_std)


@dataclass
class ReinforcePPConfig(OnlineConfig):
    """REINFORCE++. Defaults: OpenRLHF ``openrlhf/cli/train_ppo_ray.py`` unless noted."""

    learning_rate: float = 1e-6  # as GRPO / RLOO here (OpenRLHF leaves the actor lr to the recipe)
    num_generations: int = 1  # OpenRLHF rollout.n_samples_per_prompt
    beta: float = 0.01  # OpenRLHF algo.kl.init_coef
    kl_penalty: str = "reward"  # "reward" (OpenRLHF default) or "loss" (algo.kl.use_loss)
    kl_estimator: str = "k1"  # OpenRLHF algo.kl.estimator (it recommends k2 / k3 for the loss)
    gamma: float = 1.0  # OpenRLHF algo.advantage.gamma
    baseline: str = "none"  # "none": reinforce; "group": reinforce_baseline (needs num_generations >= 2)
    normalize_std: bool = True  # False = OpenRLHF algo.advantage.no_std_norm
    epsilon: float = 0.2  # OpenRLHF actor.eps_clip
    epsilon_high: float | None = None  # OpenRLHF actor.eps_clip_low_high
    clip_ratio_c: float | None = None  # OpenRLHF actor.dual_clip (off)

    min_generations = 1

    def validate(self) -> None:
        super().validate()
        if self.baseline not in BASELINES:
            raise ConfigError(f"baseline {self.baseline!r} is not one of {', '.join(BASELINES)}")
        if self.baseline == "group" and self.num_generations < 2:
            raise ConfigError(
                "baseline = 'group' (REINFORCE++-baseline) needs num_generations >= 2, got "
                f"{self.num_generations}; valid: baseline = 'none' with num_generations = 1, "
                "'group' with num_generations >= 2"
            )
        if self.kl_penalty not in KL_PENALTIES:
            raise ConfigError(f"kl_penalty {self.kl_penalty!r} is not one of {', '.join(KL_PENALTIES)}")
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ConfigError(f"kl_estimator {self.kl_estimator!r} is not one of {', '.join(KL_ESTIMATORS)}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"gamma must be in [0, 1], got {self.gamma}")


class ReinforcePP(OnlineRL):
    """REINFORCE++ (no critic); see the module docstring."""

    config_class = ReinforcePPConfig
    summary = "REINFORCE++ on a causal LM (LoRA): KL-shaped token returns, global advantage normalisation"
    config: ReinforcePPConfig

    def __init__(self, config: ReinforcePPConfig, **kwargs):
        super().__init__(config, **kwargs)
        if self.agent_loop is not None and self.agent_loop.cfg.advantage != "episode":
            raise ConfigError(
                f"[agent] advantage = {self.agent_loop.cfg.advantage!r} is a group estimator for GRPO / RLOO; "
                "reinforce-pp computes its own per-token returns (valid: advantage = 'episode', the default, "
                "with reinforce-pp; 'return_to_go' with grpo or rloo)"
            )

    def needs_old_logprobs(self) -> bool:
        return self.config.beta != 0.0 and self.config.kl_penalty == "reward"

    def rollout_advantages(self, rewards: torch.Tensor, parts: dict, metrics: dict):
        cfg = self.config
        mask = parts["batch"].trained_mask.to(torch.float32)
        kl = None
        if cfg.beta != 0.0 and cfg.kl_penalty == "reward":
            kl = kl_estimate(parts["old"], parts["ref"], cfg.kl_estimator) * mask
            metrics["kl_sampled"] = float(masked_mean(kl, mask))
        advantages = reinforce_pp_advantages(
            rewards,
            mask,
            kl=kl,
            beta=cfg.beta,
            gamma=cfg.gamma,
            baseline=cfg.baseline,
            num_generations=cfg.num_generations,
            normalize_std=cfg.normalize_std,
        )
        return advantages, {}

    def micro_batch_loss(self, logprobs, old_logprobs, ref_logprobs, advantages, mask, num_tokens, num_micro):
        cfg = self.config
        out = clipped_policy_loss(
            logprobs,
            logprobs.detach() if old_logprobs is None else old_logprobs,
            advantages,
            mask,
            epsilon=cfg.epsilon,
            epsilon_high=cfg.epsilon_high,
            clip_ratio_c=cfg.clip_ratio_c,
            num_tokens=num_tokens,
        )
        loss = out.loss
        if cfg.beta != 0.0 and cfg.kl_penalty == "loss":
            kl = kl_loss_term(logprobs, ref_logprobs, mask, cfg.kl_estimator, num_tokens)
            loss = loss + cfg.beta * kl
            out.kl_loss = kl.detach() * float(num_tokens) / max(float(mask.sum()), 1.0)
        return loss, out


__all__ = [
    "ReinforcePP",
    "ReinforcePPConfig",
    "global_normalize",
    "reinforce_pp_advantages",
    "reinforce_pp_returns",
]
