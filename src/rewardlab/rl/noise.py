"""Exploration noise for deterministic policies (TD3, DDPG), added in the normalised [-1, 1] action
space as Stable-Baselines3 does (stable_baselines3/common/noise.py), one row per sub-env."""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.errors import ConfigError

NOISE_TYPES = ("none", "normal", "ornstein_uhlenbeck")


class ActionNoise:
    """No noise; the base of the others. ``reset(done)`` restarts the rows whose episode ended."""

    def __init__(self, num_envs: int, action_dim: int, sigma: float):
        self.shape = (num_envs, action_dim)
        self.sigma = sigma

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(self.shape, dtype=np.float32)

    def reset(self, done: np.ndarray) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class NormalNoise(ActionNoise):
    """Independent N(0, sigma^2) per step: TD3's exploration (Fujimoto et al. 2018 use sigma 0.1)."""

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(0.0, self.sigma, size=self.shape).astype(np.float32)


class OrnsteinUhlenbeckNoise(ActionNoise):
    """Temporally correlated noise, DDPG's original choice (Lillicrap et al. 2016):
    x <- x + theta (mu - x) dt + sigma sqrt(dt) N(0, 1), with mu 0, theta 0.15 and dt 0.01 as SB3."""

    def __init__(self, num_envs: int, action_dim: int, sigma: float, theta: float = 0.15, dt: float = 1e-2):
        super().__init__(num_envs, action_dim, sigma)
        self.theta, self.dt = theta, dt
        self.x = np.zeros(self.shape)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        self.x = (
            self.x
            - self.theta * self.x * self.dt
            + self.sigma * np.sqrt(self.dt) * rng.normal(size=self.shape)
        )
        return self.x.astype(np.float32)

    def reset(self, done: np.ndarray) -> None:
        self.x[done] = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"x": self.x.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.x = state["x"].copy()


def make_noise(kind: str, num_envs: int, action_dim: int, sigma: float) -> ActionNoise:
    classes = {"none": ActionNoise, "normal": NormalNoise, "ornstein_uhlenbeck": OrnsteinUhlenbeckNoise}
    if kind not in classes:
        raise ConfigError(f"config key 'action_noise': {kind!r} is not one of {', '.join(NOISE_TYPES)}")
    return classes[kind](num_envs, action_dim, sigma)
