"""Pendulum whose true state (theta, theta_dot) is privileged: in info["state"], or, with
``as_dict``, in the "state" part of a Dict observation (the asymmetric-critic tests of PPO and SAC)."""

import gymnasium as gym
import numpy as np


class PendulumWithState(gym.Wrapper):
    def __init__(self, as_dict=False, horizon=50):
        super().__init__(gym.make("Pendulum-v1", max_episode_steps=horizon))
        self.as_dict = as_dict
        if as_dict:
            self.observation_space = gym.spaces.Dict(
                {"obs": self.env.observation_space, "state": gym.spaces.Box(-np.inf, np.inf, (2,))}
            )

    def _wrap(self, obs, info):
        state = np.asarray(self.env.unwrapped.state, dtype=np.float32).copy()
        if self.as_dict:
            return {"obs": obs, "state": state}, info
        return obs, {**info, "state": state}

    def reset(self, **kwargs):
        return self._wrap(*self.env.reset(**kwargs))

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        wrapped, info = self._wrap(obs, info)
        return wrapped, r, term, trunc, info
