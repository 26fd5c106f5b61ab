"""Adapters: existing environments run unchanged under the agent contract.

* :class:`GymnasiumTextEnv` -- any Gymnasium env plus two functions, ``obs_to_text(obs) -> str``
  and ``parse(text) -> action or None`` (verifiers' ``GymEnv`` idea). Per-step rewards become the
  per-turn rewards; ``None`` from ``parse`` is a malformed turn (feedback, counted).
* :class:`OpenEnvEnvironment` -- an OpenEnv-style ``Environment`` (or its HTTP client): ``reset(seed=,
  episode_id=, **kw) -> Observation`` and ``step(action) -> Observation``, the observation carrying
  ``done``, ``reward`` (bool / int / float / None) and ``metadata`` (OpenEnv's
  ``core/env_server/types.py``). ``to_action(text)`` builds the env's typed Action (``None``:
  malformed, counted); ``obs_to_text`` renders an observation (default: its ``text`` /
  ``prompt`` / ``message`` field). ``reset`` gets ``seed`` / ``episode_id`` only where its
  signature takes them, as OpenEnv's own server filters them (the ``openenv init`` echo env's
  ``reset(self)`` takes none); a task keyword it does not take is a ConfigError. Matched by duck typing; tested against ``openenv-core``
  0.3.0's own template env (the ``openenv`` extra), which is not a dependency of the adapter.
* :class:`TRLEnvironment` -- a TRL ``environment_factory`` class: ``reset(**row) -> str | None``
  (the text is appended to the row's prompt), every public method except ``reset`` /
  ``get_reward`` is a tool, ``get_reward()`` is the episode's reward (paid at the end). As in TRL,
  an exception from a tool method is the tool's message to the model (``ValueError("Game over.")``
  is TRL's documented way to end a game), not a crash.

Use them with :class:`~rewardlab.agents.env.AgentTask`::

    task = AgentTask(TRLEnvironment, factory=MyTRLEnv, rows=rows)
    task = AgentTask(GymnasiumTextEnv, env_id="FrozenLake-v1", obs_to_text=..., parse=...)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from rewardlab.agents.actions import Action
from rewardlab.agents.env import ChatEnv, StepResult, ToolEnv
from rewardlab.agents.tools import Tool, ToolError
from rewardlab.errors import ConfigError
from rewardlab.tasks.base import Example


def _first_turn(instructions: str, observation: str) -> tuple[list[dict], dict]:
    """``reset``'s return: one user message, the instructions (if any) above the first observation."""
    return [{"role": "user", "content": (instructions + "\n" if instructions else "") + observation}], {}


def _unreadable() -> StepResult:
    """The turn after an action the parser could not read: no reward, the episode goes on."""
    return StepResult(
        [{"role": "user", "content": "Unreadable action; try again."}],
        0.0,
        False,
        False,
        {"malformed": 1, "errors": 1},
    )


class GymnasiumTextEnv(ChatEnv):
    name = "gymnasium"
    action_format = "call"

    def __init__(
        self,
        env_id: str | None = None,
        obs_to_text: Callable[[Any], str] = str,
        parse: Callable[[str], Any] | None = None,
        make: Callable[[], Any] | None = None,
        instructions: str = "",
        max_turns: int = 20,
        num_train: int = 1000,
        num_test: int = 100,
    ) -> None:
        if (env_id is None) == (make is None):
            raise ConfigError(
                "GymnasiumTextEnv: give exactly one of env_id (a Gymnasium id) or make (a factory)"
            )
        if parse is None:
            raise ConfigError("GymnasiumTextEnv: parse (text -> action, or None when unreadable) is required")
        if make is None:
            import gymnasium as gym

            def make() -> Any:
                return gym.make(env_id)

        self.env = make()
        self.name = env_id or getattr(self.env, "spec", None) and self.env.spec.id or "gymnasium"
        self.obs_to_text, self.parse, self.instructions = obs_to_text, parse, instructions
        self.max_turns, self.num_train, self.num_test = max_turns, num_train, num_test

    def problems(self, split: str, seed: int) -> list[Example]:
        # an episode is an env seed: test seeds from a fixed range above the training ones
        start = 10**6 if split == "test" else seed * 10**4
        return [
            Example(prompt=None, info={"env_seed": start + i})
            for i in range(self.num_test if split == "test" else self.num_train)
        ]

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        env_seed = task.info["env_seed"] if task is not None else seed
        obs, info = self.env.reset(seed=int(env_seed))
        return _first_turn(self.instructions, self.obs_to_text(obs))

    def step(self, action: Action) -> StepResult:
        a = self.parse(action.text)
        if a is None:
            return _unreadable()
        obs, reward, terminated, truncated, info = self.env.step(a)
        out = [] if terminated or truncated else [{"role": "user", "content": self.obs_to_text(obs)}]
        success = info.get("success", terminated and float(reward) > 0)
        return StepResult(out, float(reward), bool(terminated), bool(truncated), {"success": bool(success)})

    def close(self) -> None:
        self.env.close()


def _accepted_kwargs(fn: Callable, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keywords ``fn`` takes (all of them when it has ``**kwargs``), as OpenEnv's HTTP server
    passes them to ``Environment.reset``: its abstract signature has ``seed`` and ``episode_id``,
    but concrete envs may drop them."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: pass everything
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return kwargs
    names = {p.name for p in params}
    return {k: v for k, v in kwargs.items() if k in names}


def _openenv_text(obs: Any) -> str:
    for field in ("text", "prompt", "message", "content"):
        value = getattr(obs, field, None)
        if isinstance(value, str) and value:
            return value
    return str(obs)


class OpenEnvEnvironment(ChatEnv):
    """An OpenEnv-style environment under the agent contract (see the module docstring).

    Per-step ``reward`` becomes the turn reward (``None`` = 0); ``done`` ends the episode
    (``terminated``); ``metadata`` is the step's ``info`` (``success`` from it when present, else
    done with a positive reward). ``tasks`` are the reset keyword arguments of each problem."""

    name = "openenv"
    action_format = "call"

    def __init__(
        self,
        make: Callable[[], Any] | None = None,
        to_action: Callable[[str], Any] | None = None,
        obs_to_text: Callable[[Any], str] = _openenv_text,
        tasks: list[dict] | None = None,
        test_tasks: list[dict] | None = None,
        instructions: str = "",
        max_turns: int = 10,
    ) -> None:
        if make is None or to_action is None:
            raise ConfigError(
                "OpenEnvEnvironment needs make= (returns the OpenEnv Environment or client) and "
                "to_action= (text -> the env's Action, or None when unreadable)"
            )
        self.make, self.to_action, self.obs_to_text = make, to_action, obs_to_text
        self.tasks, self.test_tasks = tasks or [{}], test_tasks or tasks or [{}]
        self.instructions, self.max_turns = instructions, max_turns
        self.env = make()
        for method in ("reset", "step"):
            if not callable(getattr(self.env, method, None)):
                raise ConfigError(f"OpenEnvEnvironment: {type(self.env).__name__} has no {method}() method")
        self.name = getattr(type(self.env), "__name__", "openenv")
        self._episode = 0

    def problems(self, split: str, seed: int) -> list[Example]:
        rows = self.test_tasks if split == "test" else self.tasks
        return [Example(prompt=None, info={"reset": dict(r)}) for r in rows]

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        kwargs = dict(task.info.get("reset", {})) if task is not None else {}
        dropped = sorted(set(kwargs) - set(_accepted_kwargs(self.env.reset, kwargs)))
        if dropped:  # a task's own keywords must reach the env (seed / episode_id are optional)
            raise ConfigError(
                f"OpenEnvEnvironment: {type(self.env).__name__}.reset does not take {', '.join(dropped)} "
                f"(from the task {kwargs}); its signature is {inspect.signature(self.env.reset)}"
            )
        self._episode += 1
        kwargs.update(seed=int(seed), episode_id=f"{self.name}-{seed}-{self._episode}")
        obs = self.env.reset(**_accepted_kwargs(self.env.reset, kwargs))
        return _first_turn(self.instructions, self.obs_to_text(obs))

    def step(self, action: Action) -> StepResult:
        typed = self.to_action(action.text)
        if typed is None:
            return _unreadable()
        obs = self.env.step(typed)
        reward = getattr(obs, "reward", None)
        reward = 0.0 if reward is None else float(reward)
        done = bool(getattr(obs, "done", False))
        info = dict(getattr(obs, "metadata", None) or {})
        info["success"] = bool(info.get("success", done and reward > 0))
        out = [] if done else [{"role": "user", "content": self.obs_to_text(obs)}]
        return StepResult(out, reward, done, False, info)

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if callable(close):
            close()


class TRLEnvironment(ToolEnv):
    """A TRL ``environment_factory`` class under the agent contract (see the module docstring)."""

    name = "trl"

    def __init__(
        self,
        factory: type | None = None,
        rows: list[dict] | None = None,
        test_rows: list[dict] | None = None,
        action_format: str = "hermes",
        max_turns: int = 8,
    ) -> None:
        super().__init__()
        if factory is None or not rows:
            raise ConfigError(
                "TRLEnvironment needs factory= (the TRL environment class) and rows= (dataset rows)"
            )
        self.factory, self.rows, self.test_rows = factory, rows, test_rows or rows
        self.name = getattr(factory, "__name__", "trl")
        self.action_format, self.max_turns = action_format, max_turns
        self.inner = factory()
        self.reward_at_end = 0.0

    def tools(self) -> list[Tool]:
        if self._tools is None:
            self._tools = {}
            for attr, fn in inspect.getmembers(self.inner, predicate=inspect.ismethod):
                if attr.startswith("_") or attr in ("reset", "get_reward"):
                    continue
                self._tools[attr] = Tool.from_function(_as_tool_error(fn))
        return list(self._tools.values())

    def problems(self, split: str, seed: int) -> list[Example]:
        rows = self.test_rows if split == "test" else self.rows
        return [Example(prompt=None, reference=r.get("answer"), info={"row": dict(r)}) for r in rows]

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        row = dict(task.info["row"]) if task is not None else {}
        self.inner = self.factory()  # one instance per episode (TRL pools them; state must not leak)
        self._tools = None
        text = self.inner.reset(**row)
        prompt = row.get("prompt", "")
        messages = list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        if text:
            last = dict(messages[-1])
            last["content"] = f"{last.get('content', '')}{text}"
            messages[-1] = last
        messages[-1] = {**messages[-1], "content": messages[-1]["content"] + "\n" + self.instructions()}
        return messages, {}

    def on_answer(self, action: Action) -> StepResult:
        get = getattr(self.inner, "get_reward", None)
        return StepResult([], float(get()) if get is not None else 0.0, True, False, {})


def _as_tool_error(fn: Callable) -> Callable:
    """The method with its exceptions turned into ToolError (TRL shows them to the model)."""
    import functools

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ToolError:
            raise
        except Exception as e:
            raise ToolError(str(e)) from e

    return call


__all__ = ["GymnasiumTextEnv", "OpenEnvEnvironment", "TRLEnvironment"]
