"""CartPole that never terminates: reward 1 while the cart and pole are inside the bounds, else 0,
for exactly ``horizon`` (500) steps.

The fixed-horizon semantics of seals' ``CartPole-v0`` (HumanCompatibleAI/seals,
``classic_control.py``), written here without the dependency. Adversarial imitation needs it:
on CartPole-v1 an episode ends when the pole falls, so *any* positive reward teaches to keep it
up, and GAIL "learns" even from random demonstrations (imitation's docs on variable horizons,
Kostrikov et al. 2019). Here only the reward can tell good states from bad ones.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class FixedHorizonCartPole(CartPoleEnv):
    def __init__(self, horizon: int = 500):
        super().__init__()
        self.horizon = int(horizon)
        self.t = 0
        high = np.full(4, np.inf, dtype=np.float32)  # the state leaves CartPole-v1's bounds now
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, _, _, _, info = super().step(action)
        self.steps_beyond_terminated = None  # CartPoleEnv would warn about stepping after a fall
        x, _, theta, _ = self.state
        theta = (theta + np.pi) % (2 * np.pi) - np.pi  # the pole may swing all the way round
        self.state[2] = theta
        obs[2] = theta
        inside = abs(x) < self.x_threshold and abs(theta) < self.theta_threshold_radians
        self.t += 1
        return obs, float(inside), False, self.t >= self.horizon, info
