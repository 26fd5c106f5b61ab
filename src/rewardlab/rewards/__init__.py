"""Rewards as first-class objects: the Reward contract, combinators, built-in reward designs.

Import-light on purpose (numpy only): built-in rewards are imported when built with
:func:`get`; SymPy only when ``math_equiv`` compares expressions.

Typical use in a trainer::

    from rewardlab.rewards import Sample, get
    reward = get("gui_action")                       # or a WeightedSum / Gate / ... of rewards
    result = reward.score([Sample(prompt=p, completion=c, reference=r) for p, c, r in batch])
    result.total                                     # np.float64 array, one value per sample
    result.metrics()                                 # {"reward/gui_action": mean, "reward/gui_action/coord": ...}
"""

from rewardlab.rewards.base import (
    FunctionReward,
    Malformed,
    Reward,
    RewardResult,
    Sample,
    Scored,
    TRLReward,
    from_trl,
    reward,
)
from rewardlab.rewards.combinators import Clip, Gate, Hierarchical, Scale, WeightedSum
from rewardlab.rewards.registry import REWARDS, available, build, get

__all__ = [
    "REWARDS",
    "Clip",
    "FunctionReward",
    "Gate",
    "Hierarchical",
    "Malformed",
    "Reward",
    "RewardResult",
    "Sample",
    "Scale",
    "Scored",
    "TRLReward",
    "WeightedSum",
    "available",
    "build",
    "from_trl",
    "get",
    "reward",
]
