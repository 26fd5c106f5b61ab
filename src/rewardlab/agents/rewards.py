"""Rewards that read a whole episode (``Episode.sample()`` puts the transcript in ``info``).

Every single-turn reward scores an episode's final answer unchanged; these add what only an
episode has: the env's own per-turn rewards, and whether a tool was used.
"""

from __future__ import annotations

from typing import Any

from rewardlab.rewards.base import Reward


class EnvReturn(Reward):
    """The sum of the per-turn rewards the env gave (``sample.info["turn_rewards"]``).

    For envs whose paper defines the reward inside the environment (24-points' 10 / -1, RLVER's
    emotion): their default reward is this, alone or added to a task reward with ``WeightedSum``.
    """

    name = "env_return"

    def __init__(self, *, maximum: float = float("inf"), minimum: float = float("-inf"), **kw: Any) -> None:
        super().__init__(**kw)
        self.maximum, self.minimum = maximum, minimum

    def compute(self, sample: Any) -> float:
        return float(sum(sample.info.get("turn_rewards", [])))


class ToolUsed(Reward):
    """1 when the episode called at least one tool (verl PR #4998's "+0.1 for a tool call", which
    stopped GSM8K agents from learning to skip the tool, verl #1569); weight it in a WeightedSum."""

    name = "tool_used"

    def compute(self, sample: Any) -> float:
        return 1.0 if sample.info.get("tool_calls", 0) > 0 else 0.0


__all__ = ["EnvReturn", "ToolUsed"]
