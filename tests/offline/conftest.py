"""Shared offline-RL fixtures: hand-written experts (no training needed) and a private Minari root."""

import numpy as np
import pytest


def pendulum_expert(obs: np.ndarray) -> np.ndarray:
    """Energy-pumping swing-up, then a PD controller near the top: about -150 on Pendulum-v1 (the
    rl-zoo3 SAC level). Pendulum's dynamics are theta'' = 15 sin(theta) + 3u (theta = 0 upright),
    so E = w^2/2 - 15 (1 - cos theta) is 0 at rest upright; below that, push along w."""
    c, s, w = obs[:, 0], obs[:, 1], obs[:, 2]
    theta = np.arctan2(s, c)
    energy = 0.5 * w**2 - 15 * (1 - c)
    pd = np.clip(-(12 * theta + 2.5 * w), -2, 2)
    pump = np.sign(w + 1e-9) * 2.0 * (energy < -0.5)
    return np.where(c > 0.8, pd, pump)[:, None].astype(np.float32)


def cartpole_expert(obs: np.ndarray) -> np.ndarray:
    """Push toward the side the pole falls to (a linear controller): 500 on CartPole-v1."""
    x, x_dot, theta, theta_dot = obs.T
    return (theta + 0.3 * theta_dot + 0.01 * x + 0.1 * x_dot > 0).astype(np.int64)


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    root = tmp_path / "minari"
    root.mkdir()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root
