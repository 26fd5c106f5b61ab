"""Darkroom and its learning histories: the data of in-context RL (Algorithm Distillation, T2MIR).

Darkroom as NJU-RL/T2MIR's ``T2MIR-AD/environments/darkroom.py`` defines it (docs/offline.md,
"T2MIR"): a ``size`` x ``size`` grid, 5 actions (+x, -x, +y, -y, stay), the agent starts at (0, 0),
reward 1 on every step it stands on the (unobserved) goal, a fixed horizon (100 there; 25-50 for
5x5 / 7x7 here). Observations are the agent's (x, y).

A *learning history* is every episode one learner played on one goal, in order: Algorithm
Distillation trains a sequence model on such histories so that, across the episodes of its context,
it improves as the learner did. The repo ships only the goals, not the histories; here a tabular
Q-learner with decaying epsilon makes them (ours: learning rate 0.5, gamma 0.9, epsilon from 1
down to 0.05 linearly over the history), so each history starts random and ends near optimal.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rewardlab.errors import ConfigError
from rewardlab.offline.dataset import OfflineDataset

MOVES = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [0, 0]])  # +x, -x, +y, -y, stay


class Darkroom(gym.Env):
    metadata: dict = {"render_modes": []}

    def __init__(self, size: int = 5, goal: tuple[int, int] = (4, 4), horizon: int = 25):
        if size < 2 or horizon < 1:
            raise ConfigError(
                f"Darkroom needs size >= 2 and horizon >= 1 (got size={size}, horizon={horizon})"
            )
        if not (0 <= goal[0] < size and 0 <= goal[1] < size):
            raise ConfigError(f"goal {goal} is outside the {size}x{size} grid")
        self.size, self.goal, self.horizon = size, tuple(goal), horizon
        self.observation_space = gym.spaces.Box(0, size - 1, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(5)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos, self.t = np.zeros(2, dtype=np.int64), 0
        return self.pos.astype(np.float32), {}

    def step(self, action: int):
        self.pos = np.clip(self.pos + MOVES[int(action)], 0, self.size - 1)
        self.t += 1
        reward = float(tuple(self.pos) == self.goal)
        return self.pos.astype(np.float32), reward, False, self.t >= self.horizon, {}


def optimal_return(size: int, goal: tuple[int, int], horizon: int) -> float:
    """Walk straight to the goal (Manhattan distance d steps), then stay: horizon - d + 1 if the
    goal is not the start, else horizon."""
    d = abs(goal[0]) + abs(goal[1])
    return float(horizon) if d == 0 else float(max(horizon - d + 1, 0))


def learning_history(
    size: int, goal: tuple[int, int], episodes: int, horizon: int = 25, seed: int = 0,
    learning_rate: float = 0.5, gamma: float = 0.9, eps_end: float = 0.05,
) -> OfflineDataset:  # fmt: skip
    """``episodes`` consecutive episodes of one epsilon-greedy tabular Q-learner on ``goal``."""
    env = Darkroom(size, goal, horizon)
    rng = np.random.default_rng(seed)
    q = np.zeros((size, size, 5))
    out = []
    for e in range(episodes):
        eps = 1.0 + (eps_end - 1.0) * e / max(episodes - 1, 1)
        obs, _ = env.reset(seed=seed + e)
        ep = {"observations": [obs], "actions": [], "rewards": [], "terminations": [], "truncations": []}
        done = False
        while not done:
            x, y = obs.astype(int)
            greedy = rng.choice(np.flatnonzero(q[x, y] == q[x, y].max()))  # random tie-break
            a = int(rng.integers(5)) if rng.random() < eps else int(greedy)
            obs, r, term, trunc, _ = env.step(a)
            nx, ny = obs.astype(int)
            q[x, y, a] += learning_rate * (r + gamma * q[nx, ny].max() - q[x, y, a])
            for key, v in zip(("observations", "actions", "rewards", "terminations", "truncations"),
                              (obs, a, r, term, trunc)):  # fmt: skip
                ep[key].append(v)
            done = term or trunc
        out.append({k: np.asarray(v) for k, v in ep.items()})
    return OfflineDataset.from_episodes(
        out, env.observation_space, env.action_space, name=f"darkroom{size}/goal{goal[0]}-{goal[1]}",
        metadata={"goal": list(goal), "size": size, "horizon": horizon},
    )  # fmt: skip


def goal_split(size: int, train_fraction: float = 0.8, seed: int = 0) -> tuple[list, list]:
    """Every cell but the start as a goal, shuffled, split into (train goals, held-out goals); T2MIR
    uses 80 / 20 of 100 goals on 10x10."""
    goals = [(x, y) for x in range(size) for y in range(size) if (x, y) != (0, 0)]
    order = np.random.default_rng(seed).permutation(len(goals))
    k = int(round(train_fraction * len(goals)))
    return [goals[i] for i in order[:k]], [goals[i] for i in order[k:]]
