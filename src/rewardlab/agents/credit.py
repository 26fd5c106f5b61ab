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
* ``mt_grpo`` (MT-GRPO, Zeng et al. 2025, arXiv:2505.11821; atropos PR #162): the episode
  advantage plus a turn-level term, A_{i,t} = A^E_i + lambda * T_{i,t}, where
  T_{i,t} = (r_{i,t} - mean_t) / (std_t + 1e-4) normalises the *immediate* turn reward over the
  group's episodes that reached turn t (fewer than two of them, or all equal: 0). A final answer
  turn without a turn reward therefore gets A^E alone, the paper's two-turn rule. The term is
  myopic and compares turn t of episodes that stopped there with turn t of episodes that went on,
  so it is **biased when the policy chooses the episode's length** (verl RFC #7244): the tests
  show it shortening episodes on an env whose return favours the long ones. The trainer warns.
* ``gigpo`` (GiGPO, Feng et al. 2025, verl-agent ``core_gigpo.py``): A_{i,t} = A^E_i + omega * S_{i,t}.
  Steps of the group's episodes are grouped by their *anchor state* -- the state they acted in, a
  hashable ``info["state_key"]`` when the env gives one, else the exact observation messages (the
  paper's exact-match anchor). S_{i,t} = (G_{i,t} - mean_s) / (std_s + 1e-4) over the steps
  sharing state s, with G the discounted return above (GiGPO uses gamma 0.95). A state visited
  once has no peer and gets S = 0 (the paper's formula; verl-agent's code instead leaves such a
  step its raw return, mean 0 and std 1 -- we do not, so a singleton cannot inject an un-normalised
  return). ``step_std = False`` is GiGPO's ``mean_norm`` mode (no division by std_s).

A^E is the trainer's own episode advantage (``algo.compute_advantages``), so ``scale_rewards``
and RLOO-style baselines carry over; the functions take it as an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rewardlab.errors import RewardlabError
from rewardlab.llm.grpo import STD_EPS, nanstd

ADVANTAGES = ("episode", "return_to_go", "mt_grpo", "gigpo")


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


def _normalise(values: Sequence[float], scale: bool = True) -> list[float]:
    """(x - mean) / (std + eps) with GRPO's Bessel std; 0 for a single value or all-equal values."""
    if len(values) < 2:
        return [0.0] * len(values)
    x = torch.tensor(list(values), dtype=torch.float64)
    centred = x - x.mean()
    if scale:
        centred = centred / (nanstd(x) + STD_EPS)
    return torch.nan_to_num(centred, nan=0.0).tolist()


def mt_grpo_advantages(
    turn_rewards: Sequence[Sequence[float]],
    episode_advantages: Sequence[float],
    num_generations: int,
    coef: float = 1.0,
) -> list[list[float]]:
    """MT-GRPO's per-turn advantages (module docstring): A^E_i + coef * T_{i,t}."""
    _check_groups(len(turn_rewards), len(episode_advantages), num_generations)
    out = [[float(episode_advantages[i])] * len(r) for i, r in enumerate(turn_rewards)]
    for start in range(0, len(turn_rewards), num_generations):
        members = range(start, start + num_generations)
        depth = max((len(turn_rewards[i]) for i in members), default=0)
        for t in range(depth):
            alive = [i for i in members if len(turn_rewards[i]) > t]
            for i, z in zip(alive, _normalise([float(turn_rewards[i][t]) for i in alive])):
                out[i][t] += coef * z
    return out


def gigpo_advantages(
    turn_rewards: Sequence[Sequence[float]],
    totals: Sequence[float],
    state_keys: Sequence[Sequence[Any]],
    episode_advantages: Sequence[float],
    num_generations: int,
    *,
    gamma: float = 0.95,
    coef: float = 1.0,
    step_std: bool = True,
) -> list[list[float]]:
    """GiGPO's per-step advantages (module docstring): A^E_i + coef * S_{i,t}, where
    ``state_keys[i][t]`` is the anchor state turn t of episode i acted in (any hashable)."""
    _check_groups(len(turn_rewards), len(episode_advantages), num_generations)
    if len(totals) != len(turn_rewards) or len(state_keys) != len(turn_rewards):
        raise RewardlabError(
            f"gigpo: {len(turn_rewards)} episodes but {len(totals)} totals and {len(state_keys)} state-key lists"
        )
    for i, (keys, r) in enumerate(zip(state_keys, turn_rewards)):
        if len(keys) < len(r):
            raise RewardlabError(f"gigpo: episode {i} has {len(r)} turns but {len(keys)} anchor states")
    returns = [returns_to_go(r, float(R), gamma) for r, R in zip(turn_rewards, totals)]
    out = [[float(episode_advantages[i])] * len(r) for i, r in enumerate(turn_rewards)]
    for start in range(0, len(turn_rewards), num_generations):
        groups: dict[Any, list[tuple[int, int]]] = {}
        for i in range(start, start + num_generations):
            for t in range(len(returns[i])):
                groups.setdefault(state_keys[i][t], []).append((i, t))
        for steps in groups.values():
            z = _normalise([returns[i][t] for i, t in steps], scale=step_std)
            for (i, t), v in zip(steps, z):
                out[i][t] += coef * v
    return out


def _check_groups(n: int, n_adv: int, num_generations: int) -> None:
    if n != n_adv:
        raise RewardlabError(f"{n} episodes but {n_adv} episode advantages")
    if num_generations < 1 or n % num_generations:
        raise RewardlabError(f"{n} episodes do not split into groups of num_generations={num_generations}")


def per_token(turn_advantages: Sequence[Sequence[float]], turn_index: torch.Tensor) -> torch.Tensor:
    """Spread per-turn advantages over tokens: ``turn_index`` (B, T) holds each token's turn
    (-1 on padding, which gets 0; mask-0 tokens get their turn's value and are masked by the loss)."""
    out = torch.zeros(turn_index.shape, dtype=torch.float32)
    for i, adv in enumerate(turn_advantages):
        for t, a in enumerate(adv):
            out[i][turn_index[i] == t] = a
    return out


__all__ = [
    "ADVANTAGES",
    "gigpo_advantages",
    "mt_grpo_advantages",
    "per_token",
    "return_to_go_advantages",
    "returns_to_go",
]
