"""Hand-written controllers that make expert datasets without training a policy first.

``rewardlab data generate --policy builtin`` uses the one registered for ``--env``. They are
classic-control textbook controllers, not learnt; their returns (measured here over 50 seeded
episodes) are what ``ref_max_score`` records.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def pendulum_swing_up(obs: np.ndarray) -> np.ndarray:
    """Energy pumping, then a PD controller near the top: mean return about -150 on Pendulum-v1,
    the level rl-zoo3 reports for SAC/TD3 (-150 +- 90).

    Pendulum-v1's dynamics are theta'' = 15 sin(theta) + 3u (theta = 0 upright, |u| <= 2), so
    E = w^2/2 - 15 (1 - cos theta) is 0 at rest upright; below that, full torque along w adds energy."""
    c, s, w = obs[:, 0], obs[:, 1], obs[:, 2]
    theta = np.arctan2(s, c)
    energy = 0.5 * w**2 - 15 * (1 - c)
    pd = np.clip(-(12 * theta + 2.5 * w), -2, 2)
    pump = np.sign(w + 1e-9) * 2.0 * (energy < -0.5)
    return np.where(c > 0.8, pd, pump)[:, None].astype(np.float32)


def cartpole_balance(obs: np.ndarray) -> np.ndarray:
    """Push toward the side the pole falls to (a linear state feedback): 500 on CartPole-v1."""
    x, x_dot, theta, theta_dot = obs.T
    return (theta + 0.3 * theta_dot + 0.01 * x + 0.1 * x_dot > 0).astype(np.int64)


def pointmaze(maze: str) -> Callable[[np.ndarray], np.ndarray]:
    """The waypoint controller of rewardlab.offline.pointmaze, built on first use (gymnasium-robotics)."""
    controller: list[Callable[[np.ndarray], np.ndarray]] = []

    def act(obs: np.ndarray) -> np.ndarray:
        if not controller:
            from rewardlab.offline.pointmaze import waypoint_controller

            controller.append(waypoint_controller(maze))
        return controller[0](obs)

    return act


EXPERTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Pendulum-v1": pendulum_swing_up,
    "CartPole-v1": cartpole_balance,
    "pointmaze-umaze": pointmaze("UMaze"),
    "pointmaze-medium": pointmaze("Medium"),
}
