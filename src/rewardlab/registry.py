"""Name -> algorithm / environment / task / reward, with "did you mean" errors.

Each domain package declares what it provides in plain dicts of import paths
(``ALGORITHMS = {"ppo": "rewardlab.rl.ppo:PPO"}``, ``ENVS = {...}``), so listing names imports
nothing heavy; a class is imported only when it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from rewardlab.errors import unknown_name

#: packages whose __init__ declares ALGORITHMS / ENVS dicts of "module:attr" strings
DOMAINS = ("rl", "bandits", "tabular", "llm", "envs", "agents")


def _collect(attr: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for domain in DOMAINS:
        try:
            module = importlib.import_module(f"rewardlab.{domain}")
        except ImportError:
            continue
        out.update(getattr(module, attr, {}))
    return out


def load(path: str) -> Any:
    """Import ``"package.module:attr"``."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def algorithm_names() -> list[str]:
    return sorted(_collect("ALGORITHMS"))


def get_algorithm(name: str) -> type:
    """The Algorithm class registered under ``name``; unknown names suggest the closest ones."""
    table = _collect("ALGORITHMS")
    if name not in table:
        raise unknown_name("algorithm", name, table, hint="See `rewardlab list`.")
    return load(table[name])


def rewardlab_envs() -> dict[str, str]:
    """Environments rewardlab itself provides (bandits, multi-agent, ...): name -> import path."""
    return _collect("ENVS")


def gymnasium_env_ids() -> list[str]:
    import gymnasium as gym

    return sorted(gym.registry)


def check_env_id(env_id: str, *, kinds: tuple[str, ...] = ("gymnasium", "rewardlab")) -> str:
    """Return ``env_id`` if registered (Gymnasium or rewardlab); else an error with the closest ids."""
    choices: list[str] = []
    if "rewardlab" in kinds:
        choices += list(rewardlab_envs())
    if "gymnasium" in kinds:
        choices += gymnasium_env_ids()
    if env_id in choices:
        return env_id
    if not env_id:
        raise unknown_name("environment", env_id, choices, hint="Pass one with --env.")
    raise unknown_name("environment", env_id, choices, hint="See `rewardlab list envs`.")
