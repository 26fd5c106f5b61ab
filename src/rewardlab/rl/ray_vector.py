"""``vectorization = "ray"``: a Gymnasium vector env whose sub-environments live in Ray actors.

W actors each hold E of the ``num_envs = W * E`` sub-environments (sub-env ``i`` in actor
``i // E``, built by the same factory with the same global index as the sync vector env). Each step
sends every actor its slice of the actions at once, so slow simulators (SUMO, a browser, a code
sandbox) step in parallel; inference and every random number that decides an action stay on the
driver.

Bit-identity with ``"sync"`` holds *by construction*: the actors only call ``env.step`` /
``env.reset`` on the same envs with the same seeds, and the batching, same-step autoreset and info
merging are Gymnasium's own ``SyncVectorEnv`` code run on the driver over stand-in envs that hand out
the actors' results in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rewardlab.core import ray_backend


class EnvWorker:
    """The actor: E sub-environments stepped in order (Ray wraps this class with ``ray.remote``)."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]):
        self.envs = [fn() for fn in env_fns]

    def spaces(self) -> tuple[gym.Space, gym.Space, dict[str, Any], Any]:
        env = self.envs[0]
        return env.observation_space, env.action_space, dict(env.metadata), env.render_mode

    def reset(self, seeds: list[int | None], options: dict[str, Any] | None) -> list[tuple[Any, dict]]:
        return [env.reset(seed=s, options=options) for env, s in zip(self.envs, seeds)]

    def step(self, actions: list[Any]) -> list[tuple[tuple, tuple | None]]:
        """(step result, the reset result when the episode ended) per env: same-step autoreset."""
        out = []
        for env, action in zip(self.envs, actions):
            result = env.step(action)
            out.append((result, env.reset() if (result[2] or result[3]) else None))
        return out

    def call(self, name: str, args: tuple, kwargs: dict) -> list[Any]:
        out = []
        for env in self.envs:
            attr = env.get_wrapper_attr(name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return out

    def close(self) -> None:
        for env in self.envs:
            env.close()


class _Relay(gym.Env):
    """A driver-side stand-in for one remote sub-env: returns the results the actor already computed."""

    def __init__(
        self, observation_space: gym.Space, action_space: gym.Space, metadata: dict, render_mode: Any
    ):
        self.observation_space, self.action_space = observation_space, action_space
        self.metadata, self.render_mode = metadata, render_mode
        self.pending: deque[Any] = deque()

    def step(self, action: Any) -> tuple:
        return self.pending.popleft()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple:
        return self.pending.popleft()


class RayVectorEnv(SyncVectorEnv):
    """``SyncVectorEnv`` semantics (same-step autoreset) with the sub-envs in ``num_workers`` actors."""

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        num_workers: int,
        *,
        address: str = "",
        num_cpus: int = 0,
        worker_num_cpus: float = 0.0,
        timeout_s: float = ray_backend.DEFAULT_TIMEOUT_S,
    ):
        n = len(env_fns)
        if num_workers < 1 or n % num_workers:
            from rewardlab.errors import ConfigError

            raise ConfigError(
                f"config key 'num_workers': {num_workers} must be >= 1 and divide num_envs ({n}); "
                f"valid values: {[w for w in range(1, n + 1) if n % w == 0]}"
            )
        ray = ray_backend.acquire(
            address,
            num_cpus,
            needed_cpus=num_workers * worker_num_cpus,
            what=f"{num_workers} Ray env workers",
        )
        self._ray_held = True
        self.timeout_s = timeout_s
        per = n // num_workers
        actor = ray.remote(num_cpus=worker_num_cpus)(EnvWorker)
        self.workers = [actor.remote(list(env_fns[w * per : (w + 1) * per])) for w in range(num_workers)]
        self.slices = [slice(w * per, (w + 1) * per) for w in range(num_workers)]
        obs_space, act_space, metadata, render_mode = self._get(self.workers[0].spaces.remote(), "spaces")
        relays = [_Relay(obs_space, act_space, metadata, render_mode) for _ in range(n)]
        super().__init__([lambda r=r: r for r in relays], autoreset_mode=AutoresetMode.SAME_STEP)

    def _get(self, refs: Any, what: str) -> Any:
        return ray_backend.get(refs, self.timeout_s, f"Ray env worker ({what})")

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed
        seeds = list(seeds) if seeds is not None else [None] * self.num_envs
        if options is not None and "reset_mask" in options:
            raise NotImplementedError("RayVectorEnv does not support options['reset_mask']")
        refs = [w.reset.remote(seeds[s], options) for w, s in zip(self.workers, self.slices)]
        for env, result in zip(self.envs, _flatten(self._get(refs, "reset"))):
            env.pending.append(result)
        return super().reset(seed=seeds, options=options)

    def step(self, actions: Any):
        per_env = list(gym.vector.utils.iterate(self.action_space, actions))
        refs = [w.step.remote(per_env[s]) for w, s in zip(self.workers, self.slices)]
        for env, (result, reset) in zip(self.envs, _flatten(self._get(refs, "step"))):
            env.pending.append(result)
            if reset is not None:
                env.pending.append(reset)
        return super().step(actions)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        refs = [w.call.remote(name, args, kwargs) for w in self.workers]
        return tuple(_flatten(self._get(refs, f"call {name!r}")))

    def close_extras(self, **kwargs: Any) -> None:
        if not getattr(self, "_ray_held", False):
            return
        import ray

        try:
            ray.get([w.close.remote() for w in self.workers], timeout=30)
        except Exception:  # noqa: BLE001  (closing must not hide the error that led here)
            pass
        for w in self.workers:
            ray.kill(w)
        self._ray_held = False
        ray_backend.release()


def _flatten(parts: list[list[Any]]) -> list[Any]:
    return [x for part in parts for x in part]
