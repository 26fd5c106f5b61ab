"""Your own Gymnasium environment, trained by PPO without touching rewardlab's source.

    python examples/api/custom_env.py

or from the shell, naming the class by its file (a module path ``my_pkg.envs:Corridor`` works too):

    rewardlab train ppo --env examples/api/custom_env.py:Corridor --total-steps 20000

The run's config.toml records the env's import path, so ``rewardlab train ppo --resume RUN`` and
``rewardlab eval RUN`` rebuild the same env from any directory.
"""

import gymnasium as gym
import numpy as np

import rewardlab


class Corridor(gym.Env):
    """Walk right along a corridor of ``length`` cells: -0.01 a step, +1 at the end; 50 steps at most."""

    def __init__(self, length: int = 6):
        self.length = length
        self.observation_space = gym.spaces.Box(0.0, 1.0, (length,), np.float32)
        self.action_space = gym.spaces.Discrete(2)  # 0 left, 1 right

    def _obs(self):
        obs = np.zeros(self.length, np.float32)
        obs[self.pos] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = 0, 0
        return self._obs(), {}

    def step(self, action):
        self.pos = min(max(self.pos + (1 if int(action) == 1 else -1), 0), self.length - 1)
        self.t += 1
        at_end = self.pos == self.length - 1
        return self._obs(), (1.0 if at_end else -0.01), at_end, self.t >= 50, {}


def main(total_steps: int = 20_000, out: str = "runs/api-corridor", **overrides) -> float:
    # the class itself: rewardlab records it as "examples/api/custom_env.py:Corridor" (absolute path)
    run = rewardlab.train("ppo", env=Corridor, total_steps=total_steps, out=out, **overrides)
    print(
        f"evaluation: {run.eval['mean_return']:.2f} in {run.eval['mean_length']:.0f} steps (best: 0.96 in 5)"
    )
    return run.eval["mean_return"]


if __name__ == "__main__":
    main()
