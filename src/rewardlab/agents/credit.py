"""Credit assignment over the turns of an episode (pure functions, hand-checked in the tests).

Notation: a GRPO group holds the G episodes of one task (same seed). Episode i has turns
t = 0..T_i-1 with per-turn env rewards r_{i,t} and a total reward R_i (the Reward on
``episode.sample()``, which for env-scored tasks includes the sum of r_{i,t}, see ``EnvReturn``).
The terminal part of the reward is R_i - sum_t r_{i,t}.

* ``episode`` (default; TRL, verl, SkyRL, rLLM all broadcast it): one group-normalised advantage
  per episode for every trained token -- the algorithm's own ``compute_advantages`` on R_i, so
  GRPO / RLOO / ``scale_rewards`` behave exactly as in single-turn training.
* ``return_to_go`` (Kevin via verifiers #170, rLLM ``mc_return``, OpenEnv's discounting rubric):
  G_{i,t} = sum_{k>=t} gamma^(k-t) r_{i,k} + gamma^(T_i-1-t) (R_i - sum_k r_{i,k});
  A_{i,t} = (G_{i,t} - mean) / (std + 1e-4) over all (i, t) of the group (std with Bessel's
  correction, as GRPO's). With one turn and gamma 1 it equals ``episode``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rewardlab.llm.grpo import STD_EPS, nanstd

ADVANTAGES = ("episode", "return_to_go")


def returns_to_go(turn_rewards: Sequence[float], total: float, gamma: float = 1.0) -> list[float]:
    """G_t for one episode (see the module docstring); ``total`` is R, the episode's whole reward."""
    T = len(turn_rewards)
    if T == 0:
        return []
    out = [0.0] * T
    running = total - sum(turn_rewards)  # the terminal part, received after the last turn
    for t in range(T - 1, -1, -1):
        running = turn_rewards[t] + gamma * running if t < T - 1 else turn_rewards[t] + running
        out[t] = running
    return out


def return_to_go_advantages(
    turn_rewards: Sequence[Sequence[float]], totals: Sequence[float], num_generations: int, gamma: float = 1.0
) -> list[list[float]]:
    """Per-turn advantages of every episode, normalised within each group of ``num_generations``."""
    returns = [returns_to_go(r, float(R), gamma) for r, R in zip(turn_rewards, totals)]
    out: list[list[float]] = []
    for start in range(0, len(returns), num_generations):
        group = returns[start : start + num_generations]
        flat = torch.tensor([g for ep in group for g in ep], dtype=torch.float32)
        mean = flat.mean() if flat.numel() else torch.tensor(0.0)
        std = nanstd(flat) if flat.numel() > 1 else torch.tensor(float("nan"))
        for ep in group:
            adv = (torch.tensor(ep, dtype=torch.float32) - mean) / (std + STD_EPS)
            out.append(torch.nan_to_num(adv, nan=0.0).tolist())
    return out


def per_token(turn_advantages: Sequence[Sequence[float]], turn_index: torch.Tensor) -> torch.Tensor:
    """Spread per-turn advantages over tokens: ``turn_index`` (B, T) holds each token's turn
    (-1 on padding, which gets 0; mask-0 tokens get their turn's value and are masked by the loss)."""
    out = torch.zeros(turn_index.shape, dtype=torch.float32)
    for i, adv in enumerate(turn_advantages):
        for t, a in enumerate(adv):
            out[i][turn_index[i] == t] = a
    return out


__all__ = ["ADVANTAGES", "per_token", "return_to_go_advantages", "returns_to_go"]
