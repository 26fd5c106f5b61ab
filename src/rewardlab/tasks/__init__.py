"""Text tasks for LM agents: prompts with references, train/test splits and a default reward.

Kept light: names map to import paths, a task's module is imported when it is made.
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


def make(name: str, seed: int = 0, **params: Any) -> Any:
    """Build task ``name`` with its parameters; unknown names and parameters list the valid ones."""
    from rewardlab.errors import ConfigError, unknown_name
    from rewardlab.registry import load

    if name not in TASKS:
        raise unknown_name("task", name, TASKS, hint="See `rewardlab list`.")
    cls = load(TASKS[name])
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "seed")]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"task {name!r} has no parameter {unknown[0]!r}; valid parameters: {', '.join(valid)}"
        )
    task = cls(seed=seed, **params)
    task.check_splits()
    return task
