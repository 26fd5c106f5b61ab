"""A continuous AGV-like reaching task: a 2-D point mass that must drive into a goal disc.

The continuous counterpart of ``sparse-grid`` for the RND-PPO AGV path-planning row of the seed
table (whose code was not found), and the task the progress critic's dense reward is tried on.
State: position and velocity in the unit square. Action: a 2-D acceleration in [-1, 1]^2, scaled
by ``accel`` (0.01); the velocity is clipped to ``max_speed`` (0.05 per step) on each axis, and a
wall stops the axis that hits it (double-integrator dynamics, as a cart with inertia). The reward
is sparse: 1 on entering the goal disc (``goal_radius`` 0.05), which ends the episode; after
``horizon`` (200) steps the episode is truncated. ``info["is_success"]`` is set on the last step,
as in ``sparse-grid``.

By default the start is (0.1, 0.1) and the goal (0.9, 0.9), 1.13 apart: at least 23 steps at top
speed. With ``random_goal = True`` each episode draws the start and the goal uniformly in
[0.1, 0.9]^2, at least 0.5 apart, so a policy must read the goal. Observation:
``[x, y, vx / max_speed, vy / max_speed, goal_x, goal_y]`` (the goal is part of the observation,
so goal-conditioned rewards can read it from the transition).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.errors import ConfigError


class PointGoalEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(
        self,
        horizon: int = 200,
        goal_radius: float = 0.05,
        accel: float = 0.01,
        max_speed: float = 0.05,
        random_goal: bool = False,
    ):
        if int(horizon) < 1:
            raise ConfigError(f"point-goal: horizon must be >= 1, got {horizon}")
        for key, value in (("goal_radius", goal_radius), ("accel", accel), ("max_speed", max_speed)):
            if not float(value) > 0:
                raise ConfigError(f"point-goal: {key} must be > 0, got {value}")
        self.horizon, self.goal_radius = int(horizon), float(goal_radius)
        self.accel, self.max_speed, self.random_goal = float(accel), float(max_speed), bool(random_goal)
        self.observation_space = gym.spaces.Box(
            np.array([0, 0, -1, -1, 0, 0], dtype=np.float32), np.ones(6, dtype=np.float32)
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.pos, self.vel = np.array([0.1, 0.1]), np.zeros(2)
        self.goal = np.array([0.9, 0.9])
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.pos, self.vel / self.max_speed, self.goal]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.vel, self.t = np.zeros(2), 0
        if self.random_goal:
            while True:
                self.pos, self.goal = self.np_random.uniform(0.1, 0.9, size=(2, 2))
                if np.linalg.norm(self.goal - self.pos) >= 0.5:
                    break
        else:
            self.pos, self.goal = np.array([0.1, 0.1]), np.array([0.9, 0.9])
        return self._obs(), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self.vel = np.clip(self.vel + self.accel * a, -self.max_speed, self.max_speed)
        pos = self.pos + self.vel
        hit = (pos < 0.0) | (pos > 1.0)
        self.pos, self.vel = np.clip(pos, 0.0, 1.0), np.where(hit, 0.0, self.vel)
        self.t += 1
        success = bool(np.linalg.norm(self.pos - self.goal) <= self.goal_radius)
        truncated = not success and self.t >= self.horizon
        info = {"is_success": success} if success or truncated else {}
        return self._obs(), float(success), success, truncated, info
