"""Environment snapshots that really restore: the ``ENV`` kind of declared state.

Pickling a Gymnasium env is not a snapshot for every env. MuJoCo and Box2D envs pickle through
``EzPickle``, which stores only the constructor's arguments, so unpickling builds a *fresh*
simulator: the run resumes from the wrong physics without an error (LunarLander then fails on its
next step; MuJoCo trajectories diverge). :class:`Snapshot` wraps each env (rewardlab's vector envs
wrap every sub-env) and picks, once, a method that restores exactly:

``mujoco``  the whole ``MjData`` (compressed, copied back with ``mj_copyData``) plus the env's
            generator and the wrappers' counters (the time limit). ``mj_getState`` with
            ``mjSTATE_INTEGRATION`` is what the next ``mj_step`` needs, and it is stored to check the
            restore; alone it is not enough: Ant and Humanoid read body positions that ``mj_step``
            left from the previous sub-step (``xpos``, ``xipos``) before stepping, and these are not
            part of any ``mjtState`` (measured: Ant-v5 and Humanoid-v5 diverge on the first step
            after restoring the integration state alone, with or without ``mj_forward``).
``pickle``  envs whose class pickles its ``__dict__`` as it is (classic control, toy text, most
            pure-Python envs): the env and its wrappers are pickled.
``replay``  everything else (Box2D, envs with custom pickling): the generator state or seed of the
            last reset and every action since; restoring resets a fresh env the same way, replays
            the actions and checks that the last observation comes out identical. When it does
            not, the env cannot be restored, and the resume stops with an error naming the env
            before any training step runs.

An env may also provide its own ``get_state()`` / ``set_state(state)`` pair (the ``custom`` method).
"""

from __future__ import annotations

import copy
import pickle
import zlib
from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.errors import RewardlabError


class EnvStateError(RewardlabError):
    """An environment's state cannot be saved or restored exactly, so a resume would diverge."""


def _env_name(env: gym.Env) -> str:
    spec = getattr(env, "spec", None) or getattr(env.unwrapped, "spec", None)
    return spec.id if spec is not None else type(env.unwrapped).__name__


def _is_mujoco(env: gym.Env) -> bool:
    u = env.unwrapped
    return hasattr(u, "model") and hasattr(u, "data") and type(u.data).__module__.startswith("mujoco")


def _pickles_its_dict(obj: Any) -> bool:
    """True when pickling ``obj`` copies its attributes as they are (no custom pickling anywhere in
    its class), so unpickling gives the same state rather than a freshly built object."""
    cls = type(obj)
    return (
        cls.__reduce_ex__ is object.__reduce_ex__
        and cls.__reduce__ is object.__reduce__
        and cls.__getstate__ is object.__getstate__
        and not hasattr(cls, "__setstate__")
    )


def snapshot_method(env: gym.Env) -> str:
    """How :class:`Snapshot` saves ``env``: ``custom``, ``mujoco``, ``pickle`` or ``replay``."""
    u = env.unwrapped
    if callable(getattr(u, "get_state", None)) and callable(getattr(u, "set_state", None)):
        if not _is_mujoco(env):  # MujocoEnv.set_state(qpos, qvel) is not a snapshot API
            return "custom"
    if _is_mujoco(env):
        return "mujoco"
    if _pickles_its_dict(u):
        return "pickle"
    return "replay"


def _wrapper_counters(env: gym.Env) -> list[dict[str, Any]]:
    """Scalar attributes of every wrapper between ``env`` and the base env (the time limit's step
    count, the order-enforcing and checker flags)."""
    out = []
    while isinstance(env, gym.Wrapper):
        out.append({k: v for k, v in vars(env).items() if isinstance(v, bool | int | float | type(None))})
        env = env.env
    return out


def _set_wrapper_counters(env: gym.Env, counters: list[dict[str, Any]]) -> None:
    for values in counters:
        vars(env).update(values)
        env = env.env


def _generator_state(env: gym.Env) -> dict[str, Any]:
    return copy.deepcopy(env.unwrapped.np_random.bit_generator.state)


def _set_generator_state(env: gym.Env, state: dict[str, Any]) -> None:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    env.unwrapped.np_random = np.random.Generator(bit_generator)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return isinstance(b, tuple | list) and len(a) == len(b) and all(map(_same, a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


def snapshot_env(env_id: str, index: int, env_kwargs: dict[str, Any]) -> Snapshot:
    """Sub-env ``index`` of a run's vector env: the registered env, wrapped for snapshots. A module
    function without torch, so an env actor that unpickles it imports no torch. Registers
    rewardlab's Gymnasium ids first: a worker process (async vector env, Ray actor) starts without."""
    from rewardlab.envs import register_gymnasium
    from rewardlab.registry import make_env

    register_gymnasium()
    return Snapshot(make_env(env_id, **env_kwargs), index)


class Snapshot(gym.Wrapper):
    """Saves and restores the wrapped env's whole state; see the module docstring for the methods.

    ``get_snapshot`` / ``set_snapshot`` are reached through ``VectorEnv.call``, which works for sync
    and async vector envs alike; ``index`` picks this sub-env's entry from the list."""

    def __init__(self, env: gym.Env, index: int = 0):
        super().__init__(env)
        self.index = index
        self.method = snapshot_method(env)
        self.name = _env_name(env)
        # replay only: how the current episode started, the actions since, the last observation
        self._reset_record: dict[str, Any] | None = None
        self._actions: list[np.ndarray] = []
        self._last_obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.method != "replay":
            return self.env.reset(seed=seed, options=options)
        generator = (
            None if seed is not None or self.env.unwrapped._np_random is None else _generator_state(self)
        )
        self._reset_record = {"seed": seed, "generator": generator, "options": copy.deepcopy(options)}
        self._actions = []
        obs, info = self.env.reset(seed=seed, options=options)
        self._last_obs = copy.deepcopy(obs)
        return obs, info

    def step(self, action):
        if self.method != "replay":
            return self.env.step(action)
        self._actions.append(np.array(action, copy=True))
        out = self.env.step(action)
        self._last_obs = copy.deepcopy(out[0])
        return out

    # -- saving ---------------------------------------------------------------------------------

    def get_snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {"env": self.name, "method": self.method}
        if self.method == "pickle":
            try:
                snap["pickle"] = pickle.dumps(self.env)
            except Exception as e:  # an env holding a lock, socket or process handle
                raise EnvStateError(
                    f"environment {self.name!r} cannot be pickled for a checkpoint ({type(e).__name__}: {e}); "
                    f"give its class get_state()/set_state(state) methods, or let it pickle its attributes"
                ) from None
            return snap
        if self.method == "custom":
            snap["state"] = copy.deepcopy(self.env.unwrapped.get_state())
        elif self.method == "mujoco":
            import mujoco

            u = self.env.unwrapped
            spec = mujoco.mjtState.mjSTATE_INTEGRATION
            physics = np.empty(mujoco.mj_stateSize(u.model, spec))
            mujoco.mj_getState(u.model, u.data, physics, spec)
            snap["physics"] = physics
            snap["data"] = zlib.compress(pickle.dumps(u.data), 1)
            snap["sizes"] = (u.model.nq, u.model.nv, u.model.nbody, u.model.na)
            snap["generator"] = _generator_state(self)
        else:  # replay
            if self._reset_record is None:
                raise EnvStateError(f"environment {self.name!r} was never reset; there is no state to save")
            snap["reset"] = copy.deepcopy(self._reset_record)
            snap["actions"] = [a.copy() for a in self._actions]
            snap["last_obs"] = copy.deepcopy(self._last_obs)
            snap["generator"] = _generator_state(self)
        snap["wrappers"] = _wrapper_counters(self.env)
        return snap

    # -- restoring ------------------------------------------------------------------------------

    def set_snapshot(self, snapshots: list[dict[str, Any]]) -> None:
        snap = snapshots[self.index]
        if snap["env"] != self.name or snap["method"] != self.method:
            raise EnvStateError(
                f"sub-environment {self.index}: the checkpoint holds a {snap['method']} snapshot of "
                f"{snap['env']!r}, but this run built {self.name!r} ({self.method}); resume with the saved config"
            )
        if self.method == "pickle":
            self.env = pickle.loads(snap["pickle"])
            return
        if self.method == "custom":
            self.env.unwrapped.set_state(copy.deepcopy(snap["state"]))
        elif self.method == "mujoco":
            self._restore_mujoco(snap)
        else:
            self._replay(snap)
        _set_wrapper_counters(self.env, snap["wrappers"])

    def _restore_mujoco(self, snap: dict[str, Any]) -> None:
        import mujoco

        u = self.env.unwrapped
        if tuple(snap["sizes"]) != (u.model.nq, u.model.nv, u.model.nbody, u.model.na):
            raise EnvStateError(
                f"environment {self.name!r}: the checkpoint's MuJoCo model has sizes (nq, nv, nbody, na) = "
                f"{tuple(snap['sizes'])}, this one {(u.model.nq, u.model.nv, u.model.nbody, u.model.na)}; "
                f"were env_kwargs changed?"
            )
        mujoco.mj_copyData(u.data, u.model, pickle.loads(zlib.decompress(snap["data"])))
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(u.model, spec))
        mujoco.mj_getState(u.model, u.data, physics, spec)
        if not np.array_equal(physics, snap["physics"]):
            raise EnvStateError(
                f"environment {self.name!r}: the restored MuJoCo state differs from the saved one"
            )
        _set_generator_state(self, snap["generator"])

    def _replay(self, snap: dict[str, Any]) -> None:
        record = snap["reset"]
        if record["generator"] is not None:  # an autoreset: the episode was drawn from the env's generator
            self.env.reset(seed=0)  # make the env usable, then put the saved generator in place
            _set_generator_state(self, record["generator"])
        obs, _ = self.env.reset(seed=record["seed"], options=copy.deepcopy(record["options"]))
        for action in snap["actions"]:
            obs = self.env.step(action)[0]
        if not _same(obs, snap["last_obs"]):
            raise EnvStateError(
                f"environment {self.name!r} (sub-env {self.index}) cannot be restored: it has no state API, "
                f"does not pickle its state, and replaying its reset and {len(snap['actions'])} action(s) gave "
                f"a different observation (the env is not deterministic given its seed). Resuming would "
                f"diverge silently, so it stops here; give the env get_state()/set_state(state) methods, "
                f"or start a new run"
            )
        _set_generator_state(self, snap["generator"])
        self._reset_record = copy.deepcopy(record)
        self._actions = [a.copy() for a in snap["actions"]]
        self._last_obs = copy.deepcopy(snap["last_obs"])


# ---------------------------------------------------------------------------------------------
# The ENV kind of declared state (see rewardlab.core.state)


def env_snapshot(env: Any) -> Any:
    """A snapshot of a vector env (one entry per sub-env) or of a single :class:`Snapshot`-wrapped env."""
    if isinstance(env, gym.vector.VectorEnv):
        return list(env.call("get_snapshot"))
    if isinstance(env, gym.Env) and callable(getattr(env, "get_snapshot", None)):
        return env.get_snapshot()
    raise EnvStateError(
        f"{type(env).__name__} cannot be snapshotted: wrap each env in rewardlab.core.envstate.Snapshot "
        f"(rewardlab's make_vec_env does) before declaring it as ENV state"
    )


def restore_env(env: Any, snapshot: Any) -> None:
    if isinstance(env, gym.vector.VectorEnv):
        env.call("set_snapshot", list(snapshot))
    else:
        env.set_snapshot([snapshot])
