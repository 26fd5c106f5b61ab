"""An open grid with one rewarding cell far from the start: the exploration test for RND.

Stands in for the RND-PPO AGV path-planning paper (seeds_table; its code was not found): the
agent starts at (0, 0) and gets reward 1 only on reaching the far corner (size-1, size-1),
which ends the episode; after ``horizon`` steps the episode is truncated. Observation: one-hot x
followed by one-hot y (``2 * size`` floats). Actions: 0 = +x, 1 = -x, 2 = +y, 3 = -y; a move
into the border leaves the agent in place.

On the default 25 x 25 grid with horizon 100 the goal needs 48 of the 100 steps in the right
directions: a random walk essentially never gets there, so plain PPO never sees a reward
(calibration in docs/learned_rewards.md). ``info["is_success"]`` (the Stable-Baselines3 key)
is set on the last step of each episode, and evaluation reports it as ``success_rate``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.errors import ConfigError

MOVES = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])


class SparseGridEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, size: int = 25, horizon: int = 100):
        if int(size) < 2:
            raise ConfigError(f"sparse-grid: size must be >= 2, got {size}")
        if int(horizon) < 1:
            raise ConfigError(f"sparse-grid: horizon must be >= 1, got {horizon}")
        self.size, self.horizon = int(size), int(horizon)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(2 * self.size,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.goal = np.array([self.size - 1, self.size - 1])
        self.pos = np.zeros(2, dtype=np.int64)
        self.t = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(2 * self.size, dtype=np.float32)
        obs[self.pos[0]] = 1.0
        obs[self.size + self.pos[1]] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.pos = np.zeros(2, dtype=np.int64)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.pos = np.clip(self.pos + MOVES[int(action)], 0, self.size - 1)
        self.t += 1
        success = bool((self.pos == self.goal).all())
        truncated = not success and self.t >= self.horizon
        info = {"is_success": success} if success or truncated else {}
        return self._obs(), float(success), success, truncated, info
