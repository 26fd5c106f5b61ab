"""Envs whose process dies (``os._exit``) at their ``die_at``-th step: a rollout worker killed
mid-iteration, as a lost node or an OOM kill leaves it. ``marker``: only the first env to reach the
step dies (it creates the file); with ``always`` every time. Never in the test's own process.
And a CartPole that raises instead (an env bug, not a lost process)."""

import os

from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv


class _DiesAt:
    def __init__(self, die_at: int, marker: str, driver_pid: int, always: bool = False, render_mode=None):
        super().__init__(render_mode=render_mode)
        self.die_at, self.marker, self.driver_pid, self.always = die_at, marker, driver_pid, always
        self.steps = 0  # part of the env's pickled state: a restored worker counts from its snapshot

    def step(self, action):
        self.steps += 1
        if self.steps == self.die_at and os.getpid() != self.driver_pid and self._first_to_die():
            os._exit(1)
        return super().step(action)

    def _first_to_die(self) -> bool:
        if self.always:
            return True
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True


class DyingCartPole(_DiesAt, CartPoleEnv):
    pass


class DyingPendulum(_DiesAt, PendulumEnv):
    pass


class RaisingCartPole(CartPoleEnv):
    """A CartPole whose ``step`` raises RuntimeError at its ``raise_at``-th step, in any process (an env
    bug, not a lost process); each raise appends a line to ``log``, so a test can count retries."""

    def __init__(self, raise_at: int, log: str, render_mode=None):
        super().__init__(render_mode=render_mode)
        self.raise_at, self.log, self.steps = raise_at, log, 0

    def step(self, action):
        self.steps += 1
        if self.steps == self.raise_at:
            with open(self.log, "a") as f:
                f.write(f"{os.getpid()}\n")
            raise RuntimeError(f"simulator lost its state at step {self.steps}")
        return super().step(action)
