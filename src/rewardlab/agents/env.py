"""The environment contract for LM agents that act over several turns.

Gymnasium's shape with chat messages::

    messages, info = env.reset(seed=s, task=example)      # a pure function of (seed, task)
    obs, reward, terminated, truncated, info = env.step(action)

``action`` is the parsed assistant turn (:class:`~rewardlab.agents.actions.Action`, its raw
``text`` included, so envs with their own grammar need no parser). ``obs`` is a list of messages
to append (``tool`` for tool results, ``user`` for a simulated user; ``[]`` when the episode
ended). ``reward`` is the per-turn reward r_t (0 for most envs: the episode is scored by a
:class:`~rewardlab.rewards.Reward` on ``episode.sample()``; see :class:`EnvReturn`).

:class:`ToolEnv` turns ``@tool`` methods into tools and dispatches calls itself; a subclass
writes ``reset``, its tools, and optionally :meth:`ToolEnv.on_answer` /
:meth:`ToolEnv.on_tool_results`. :class:`TaskEnv` makes every single-turn task the 1-turn case.
:class:`AgentTask` is how the trainer sees a registered env: a :class:`~rewardlab.tasks.base.Task`
(problems split into train / test, a default reward) that also makes envs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rewardlab.agents.actions import FORMATS, Action, format_instructions
from rewardlab.agents.rewards import EnvReturn
from rewardlab.agents.tools import Tool, ToolResult, dispatch, tools_of
from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Reward
from rewardlab.tasks.base import Example, Task

Message = dict[str, Any]


class StepResult(NamedTuple):
    """``env.step``'s 5-tuple (unpacks like Gymnasium's)."""

    observation: list[Message]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class ChatEnv:
    """Base class of LM agent environments (see the module docstring for the contract).

    Class attributes are defaults the rollout reads: ``action_format`` (how turns are parsed),
    ``max_turns``. ``problems(split)`` lists the tasks an env is trained / evaluated on, and
    ``default_reward()`` the Reward that scores an episode.
    """

    name: str = "env"
    description: str = ""
    action_format: str = "hermes"
    max_turns: int = 4

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[Message], dict[str, Any]]:
        raise NotImplementedError

    def step(self, action: Action) -> StepResult:
        raise NotImplementedError

    def tools(self) -> list[Tool]:
        return []

    def problems(self, split: str, seed: int) -> list[Example]:
        raise NotImplementedError(f"{type(self).__name__} does not list problems; pass examples yourself")

    def default_reward(self) -> Reward:
        return EnvReturn()

    def oracle(self, messages: list[Message], info: dict[str, Any]) -> str:
        """The text an expert would write next (for the oracle policy that checks env and reward)."""
        raise NotImplementedError(f"{type(self).__name__} has no oracle")

    def close(self) -> None:
        pass


class ToolEnv(ChatEnv):
    """An env whose actions are tool calls plus a final answer.

    ``step``: a malformed turn gets a feedback message (``info["malformed"] = 1``); tool calls are
    dispatched (:func:`~rewardlab.agents.tools.dispatch`), their results returned as ``tool``
    messages and counted in ``info`` (``calls``, ``errors``, ``outcomes``); a turn without calls
    is the final answer and ends the episode (:meth:`on_answer`).
    """

    feedback_role = "tool"
    max_parallel_calls = 4

    def __init__(self) -> None:
        self._tools: dict[str, Tool] | None = None

    def tools(self) -> list[Tool]:
        if self._tools is None:
            self._tools = {t.name: t for t in tools_of(self)}
        return list(self._tools.values())

    def tool_table(self) -> dict[str, Tool]:
        self.tools()
        return self._tools

    def instructions(self) -> str:
        """The tool list and the syntax of ``action_format``, for the system prompt."""
        return format_instructions(self.action_format, self.tools())

    def on_tool_results(self, action: Action, results: list[ToolResult]) -> tuple[float, bool]:
        """(per-turn reward, terminated) after a turn of tool calls; default (0, False)."""
        return 0.0, False

    def on_answer(self, action: Action) -> StepResult:
        """The turn without calls: by default the episode ends; the Reward scores the answer."""
        return StepResult([], 0.0, True, False, {})

    def feedback(self, text: str) -> list[Message]:
        return [{"role": self.feedback_role, "content": text}]

    def step(self, action: Action) -> StepResult:
        if action.malformed:
            hint = format_instructions(self.action_format, [])
            msg = self.feedback(f"Error: {action.error}. {hint}")
            return StepResult(msg, 0.0, False, False, {"malformed": 1, "errors": 1, "calls": 0})
        if not action.calls:
            return self.on_answer(action)
        calls = action.calls[: self.max_parallel_calls]
        table = self.tool_table()
        results = [dispatch(table, c.name, c.arguments, env_name=self.name) for c in calls]
        obs = [{"role": "tool", "name": r.name, "content": r.content} for r in results]
        reward, terminated = self.on_tool_results(action, results)
        info = {
            "calls": len(results),
            "errors": sum(not r.ok for r in results),
            "outcomes": [r.outcome for r in results],
            "dropped_calls": len(action.calls) - len(calls),
        }
        return StepResult(obs, float(reward), bool(terminated), False, info)


class TaskEnv(ChatEnv):
    """A single-turn task as the 1-turn case: the prompt, one completion, done.

    ``info["prompt"]`` carries the example's prompt unchanged, so the rollout encodes it exactly as
    single-turn GRPO does (a text prompt is not the same as a one-message chat when
    ``use_chat_template`` is off).
    """

    name = "task"
    max_turns = 1

    def __init__(self, task: Task) -> None:
        self.task = task
        self.name = getattr(task, "name", "task")

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[Message], dict[str, Any]]:
        if task is None:
            raise ConfigError(f"TaskEnv({self.name!r}).reset needs task= (an Example of the task)")
        prompt = task.prompt
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return messages, {"prompt": prompt}

    def step(self, action: Action) -> StepResult:
        return StepResult([], 0.0, True, False, {})

    def problems(self, split: str, seed: int) -> list[Example]:
        return list(self.task.examples(split))

    def default_reward(self) -> Reward:
        return self.task.reward()


class AgentTask(Task):
    """A registered env seen as a Task: ``examples(split)`` are its problems, ``reward()`` its
    default reward, and :meth:`make_env` builds one env per episode (envs keep episode state)."""

    def __init__(self, env_class: type[ChatEnv], seed: int = 0, reward: Any = None, **params: Any) -> None:
        super().__init__(seed, reward)
        self.env_class = env_class
        self.params = params
        self.name = getattr(env_class, "name", env_class.__name__)
        self.description = getattr(env_class, "description", "")
        probe = self.make_env()  # bad parameters fail here, before training starts
        if probe.action_format not in FORMATS:
            raise ConfigError(
                f"env {self.name!r}: action_format {probe.action_format!r} is not one of {', '.join(FORMATS)}"
            )
        self._probe = probe

    def make_env(self) -> ChatEnv:
        return self.env_class(**self.params)

    def close(self) -> None:
        """Release what the env class shares across episodes (``close_shared``: miniwob's browsers)."""
        release = getattr(self.env_class, "close_shared", None)
        if callable(release):
            release()

    def build(self, split: str) -> list[Example]:
        return list(self._probe.problems(split, self.seed))

    def default_reward(self) -> Reward:
        return self._probe.default_reward()


__all__ = ["AgentTask", "ChatEnv", "Message", "StepResult", "TaskEnv", "ToolEnv"]
