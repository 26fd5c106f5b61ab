"""Which LM algorithm accepts which option: the valid combinations a config error lists.

Options belong to the algorithm whose config declares them (a value head to ``lm-ppo``, a group
size of 1 to the algorithms that need no group baseline). Read from the registered configs, so an
algorithm added to ``rewardlab.llm.ALGORITHMS`` is listed without editing this file.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from rewardlab.llm import ALGORITHMS


def config_classes() -> dict[str, Any]:
    """Registered LM algorithm name -> its config class (modules imported on first use)."""
    out = {}
    for name, path in ALGORITHMS.items():
        module, _, attr = path.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):  # an algorithm whose extra is missing is skipped
            continue
        config = getattr(cls, "config_class", None)
        if config is not None:
            out[name] = config
    return out


def algorithms_with_option(key: str) -> list[str]:
    """Registered LM algorithms whose config has the option ``key``."""
    return sorted(
        name
        for name, cls in config_classes().items()
        if dataclasses.is_dataclass(cls) and key in {f.name for f in dataclasses.fields(cls)}
    )


def single_sample_algorithms() -> list[str]:
    """Online LM algorithms that learn from one completion per prompt (num_generations = 1)."""
    return sorted(name for name, cls in config_classes().items() if getattr(cls, "min_generations", 2) <= 1)


def explain_unknown_key(key: str, algorithm_config: type) -> str:
    """A sentence naming the LM algorithms that accept ``key`` ("" when none does)."""
    owners = [n for n in algorithms_with_option(key) if config_classes().get(n) is not algorithm_config]
    if not owners:
        return ""
    return (
        f" {key!r} is an option of {', '.join(owners)}, not of {algorithm_config.__name__}"
        f" (valid combinations: {key} with {' / '.join(owners)} only)."
    )


__all__ = ["algorithms_with_option", "config_classes", "explain_unknown_key", "single_sample_algorithms"]
