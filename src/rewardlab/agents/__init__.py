"""LM agents that act over several turns: the env contract, tools, action formats, token-exact
rollouts and per-turn credit (see ``docs/agents.md``).

Kept light (no torch / transformers import): the registry reads these import paths. Train with
``rewardlab train grpo --env calc-tool`` (the ``[agent]`` config table tunes the loop).
"""

from __future__ import annotations

from typing import Any

#: agent env name -> "module:Class" (a ChatEnv subclass); `rewardlab list envs` shows them
ENVS = {
    "lookup": "rewardlab.agents.envs.lookup:LookupEnv",
    "calc-tool": "rewardlab.agents.envs.calc_tool:CalcToolEnv",
    "points24": "rewardlab.agents.envs.points24:Points24Env",
    "empathy-user": "rewardlab.agents.envs.empathy_user:EmpathyUserEnv",
    "mini-search": "rewardlab.agents.envs.mini_search:MiniSearchEnv",
    "frame-select": "rewardlab.agents.envs.frame_select:FrameSelectEnv",
    "ask-grid": "rewardlab.agents.envs.ask_grid:AskGridEnv",
    "mobile-gui": "rewardlab.agents.envs.mobile_gui:MobileGuiEnv",
    "miniwob": "rewardlab.agents.envs.miniwob:MiniWoBEnv",
}


def make(name: str, seed: int = 0, reward: Any = None, **params: Any) -> Any:
    """The registered env ``name`` as an :class:`~rewardlab.agents.env.AgentTask` (problems, reward,
    one env per episode); unknown names and parameters list the valid ones."""
    import inspect

    from rewardlab.agents.env import AgentTask
    from rewardlab.errors import ConfigError, unknown_name
    from rewardlab.registry import load

    if name not in ENVS:
        raise unknown_name("agent environment", name, ENVS, hint="See `rewardlab list envs`.")
    cls = load(ENVS[name])
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self",)]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"env {name!r} has no parameter {unknown[0]!r}; valid parameters: {', '.join(valid)}"
        )
    return AgentTask(cls, seed=seed, reward=reward, **params)
