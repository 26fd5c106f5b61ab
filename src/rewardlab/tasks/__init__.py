"""Text tasks for LM agents: prompts with references, train/test splits and a default reward.

Kept light: names map to import paths, a task's module is imported when it is made.

A task is named (``arithmetic``), or the user's own: a ``Task`` subclass or instance at an import
path (``package.module:MyTask``, ``path/to/tasks.py:MyTask``), or a JSONL file of prompts
(``data/prompts.jsonl``, read by the ``jsonl`` task).
"""

from __future__ import annotations

import inspect
from typing import Any

#: task name -> "module:Class"
TASKS = {
    "arithmetic": "rewardlab.tasks.arithmetic:Arithmetic",
    "countdown": "rewardlab.tasks.countdown:Countdown",
    "gui_actions": "rewardlab.tasks.gui_actions:GuiActions",
    "jsonl": "rewardlab.tasks.jsonl:JsonlTask",
}


def is_jsonl_path(name: str) -> bool:
    return isinstance(name, str) and name.endswith(".jsonl") and ":" not in name


def make(name: str, seed: int = 0, **params: Any) -> Any:
    """Build task ``name`` (a registered name, an import path or a ``.jsonl`` file) with its
    parameters; unknown names and parameters list the valid ones."""
    from rewardlab import registry
    from rewardlab.errors import ConfigError, PluginError, unknown_name

    if is_jsonl_path(name):
        from pathlib import Path

        return make("jsonl", seed=seed, **{"path": str(Path(name).expanduser().resolve()), **params})
    if registry.is_import_path(name):
        from rewardlab.tasks.base import Task

        what = f"task {name!r}"
        obj = registry.load_path(name, what)
        if isinstance(obj, Task):
            if params:
                raise PluginError(
                    f"{what} is a Task instance; it takes no task_params (got {sorted(params)})"
                )
            return obj
        if isinstance(obj, list):
            return from_records(obj, seed=seed, **params)
        if not (inspect.isclass(obj) and issubclass(obj, Task)):
            raise PluginError(
                f"{what} is {registry.describe(obj)}; expected a rewardlab.tasks.base.Task subclass or instance, "
                f"or a list of prompt dicts"
            )
        cls = obj
    elif name not in TASKS:
        raise unknown_name(
            "task",
            name,
            TASKS,
            hint="See `rewardlab list`, or give a .jsonl file of prompts or your own Task as 'package.module:MyTask'.",
        )
    else:
        cls = registry.load(TASKS[name])
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "seed")]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"task {name!r} has no parameter {unknown[0]!r}; valid parameters: {', '.join(valid)}"
        )
    task = cls(seed=seed, **params)
    task.check_splits()
    return task


def from_records(records: list[dict[str, Any]], seed: int = 0, **params: Any) -> Any:
    """The ``jsonl`` task over prompt dicts given in Python (``{"prompt" | "messages", "reference",
    ...}``), checked as the lines of a JSONL file are."""
    return make("jsonl", seed=seed, records=list(records), **params)
