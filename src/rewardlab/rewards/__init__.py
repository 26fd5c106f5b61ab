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

#: the registry convention (rewardlab.registry.DOMAINS): training a reward model is a run like any other
ALGORITHMS = {"reward-model": "rewardlab.rewards.learned.reward_model:RewardModelTraining"}

__all__ = [
    "ALGORITHMS",
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
    "best_of_n",
    "bradley_terry_loss",
    "build",
    "from_trl",
    "get",
    "reward",
]


def __getattr__(name: str):
    # torch-based parts load on first use, so importing rewardlab.rewards stays numpy-only
    if name == "bradley_terry_loss":
        from rewardlab.rewards.learned.bradley_terry import bradley_terry_loss

        return bradley_terry_loss
    if name == "best_of_n":
        from rewardlab.rewards.selection import best_of_n

        return best_of_n
    raise AttributeError(f"module 'rewardlab.rewards' has no attribute {name!r}")
