"""GRPO on a small control policy: the testbed for group-level rewards such as SRPO's.

SRPO (seeds_table row 20) trains a VLA model with GRPO in LIBERO; on CPU we keep the mechanism and
shrink the rest: a sparse *reach* task (the corner goal of rewardlab.envs.sparse_grid on a small
grid), a linear softmax policy over the 4 moves, and a fixed state-trajectory encoder in place of
the paper's V-JEPA world model. One iteration::

    G rollouts from the start, for each of `groups` groups (a group = one GRPO prompt)
    rewards   <- reward.score(samples)        # any Reward; a GroupReward sees each group whole
    A         <- group_advantages(rewards, G)  # GRPO's (r - mean) / (std + 1e-4)
    one Adam step on grpo_loss(log pi(a_t|s_t), A)   # on-policy: the ratio is 1, its gradient the PG

Each Sample carries ``group`` (its group's index), ``info["success"]`` and
``info["embedding"]`` = :func:`trajectory_embedding` of the visited cells, so the binary reward
(``info["success"]``) and SRPO's reward are compared on identical rollouts machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rewardlab.envs.sparse_grid import MOVES
from rewardlab.errors import ConfigError
from rewardlab.llm.grpo import group_advantages, grpo_loss
from rewardlab.rewards.base import Reward, Sample


def trajectory_embedding(cells: np.ndarray, size: int) -> np.ndarray:
    """A small state-trajectory encoder: final cell and mean visited cell, scaled to [0, 1]
    (4 numbers). It stands in for the paper's video world-model embedding: trajectories that end
    or wander near where successes go embed near the successes."""
    cells = np.asarray(cells, dtype=np.float64) / (size - 1)
    return np.concatenate([cells[-1], cells.mean(axis=0)])


@dataclass
class ReachResult:
    success_rate: list[float] = field(default_factory=list)  # per iteration, over its rollouts
    iterations_to_target: int | None = None  # first iteration whose success rate >= target


def reach_policy(size: int, generator: torch.Generator, *, tabular: bool = False) -> torch.nn.Linear:
    """The linear softmax policy over the 4 moves, from the one-hot (x, y) observation (or, with
    ``tabular``, the one-hot cell: a table of logits, no generalisation across cells); near uniform."""
    policy = torch.nn.Linear(size * size if tabular else 2 * size, 4)
    with torch.no_grad():
        policy.weight.normal_(0.0, 0.01, generator=generator)
        policy.bias.zero_()
    return policy


def reach_rollouts(
    policy: torch.nn.Module,
    size: int,
    horizon: int,
    groups: int,
    num_generations: int,
    generator: torch.Generator,
    *,
    tabular: bool = False,
) -> tuple[list[Sample], torch.Tensor, torch.Tensor]:
    """``groups * num_generations`` episodes from the start cell: their Samples (``group``,
    ``info["success"]``, ``info["embedding"]``, ``info["goal_distance"]`` = the final cell's
    Manhattan distance to the goal, for analysis only), per-step log-probs and the live-step mask
    (both (n, horizon))."""
    moves = torch.as_tensor(MOVES)
    goal = torch.tensor([size - 1, size - 1])
    n = groups * num_generations
    pos = torch.zeros(n, 2, dtype=torch.long)
    alive = torch.ones(n, dtype=torch.bool)
    logps, masks, cells = [], [], [pos.clone()]
    for _ in range(horizon):
        if tabular:
            obs = torch.nn.functional.one_hot(pos[:, 0] * size + pos[:, 1], size * size).float()
        else:
            obs = torch.zeros(n, 2 * size)
            obs[torch.arange(n), pos[:, 0]] = 1.0
            obs[torch.arange(n), size + pos[:, 1]] = 1.0
        logp_all = torch.log_softmax(policy(obs), dim=-1)
        action = torch.multinomial(logp_all.exp().detach(), 1, generator=generator).squeeze(1)
        logps.append(logp_all.gather(1, action[:, None]).squeeze(1))
        masks.append(alive.clone())
        pos = torch.where(alive[:, None], (pos + moves[action]).clamp(0, size - 1), pos)
        alive = alive & ~(pos == goal).all(1)
        cells.append(pos.clone())
    path = torch.stack(cells, 1).numpy()  # (n, horizon + 1, 2); a finished episode stays put
    samples = [
        Sample(
            group=i // num_generations,
            info={
                "success": not bool(alive[i]),
                "embedding": trajectory_embedding(path[i], size),
                "goal_distance": int(np.abs(path[i, -1] - (size - 1)).sum()),
            },
        )
        for i in range(n)
    ]
    return samples, torch.stack(logps, 1), torch.stack(masks, 1).float()


def train_reach(
    reward: Reward,
    *,
    size: int = 5,
    horizon: int = 12,
    groups: int = 8,
    num_generations: int = 8,
    learning_rate: float = 0.05,
    max_iterations: int = 200,
    target: float = 0.9,
    seed: int = 0,
    tabular: bool = False,
) -> ReachResult:
    """Train the linear policy with GRPO under ``reward`` until the iteration's success rate reaches
    ``target`` (or ``max_iterations``); see the module docstring."""
    if size < 2 or horizon < 1 or groups < 1 or num_generations < 2:
        raise ConfigError(
            f"train_reach: need size >= 2, horizon >= 1, groups >= 1 and num_generations >= 2 (a group "
            f"method), got size={size}, horizon={horizon}, groups={groups}, num_generations={num_generations}"
        )
    gen = torch.Generator().manual_seed(seed)
    policy = reach_policy(size, gen, tabular=tabular)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    result = ReachResult()
    for iteration in range(1, max_iterations + 1):
        samples, logprobs, mask = reach_rollouts(
            policy, size, horizon, groups, num_generations, gen, tabular=tabular
        )
        rewards = torch.as_tensor(reward(samples), dtype=torch.float32)
        advantages = group_advantages(rewards, num_generations)
        loss = grpo_loss(logprobs, None, None, advantages, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rate = float(np.mean([s.info["success"] for s in samples]))
        result.success_rate.append(rate)
        if rate >= target:
            result.iterations_to_target = iteration
            break
    return result


__all__ = ["ReachResult", "reach_policy", "reach_rollouts", "train_reach", "trajectory_embedding"]
