"""A CartPole whose every step also sleeps 1 ms: a stand-in for a slow simulator (benchmarks only)."""

import time

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class SlowCartPole(CartPoleEnv):
    def step(self, action):
        time.sleep(0.001)
        return super().step(action)


gym.register("SlowCartPole-v0", entry_point=SlowCartPole, max_episode_steps=500)
