"""Rewards that learn: the contract (text and transition rewards with trainable, declared state),
normalisation combinators, and the learned rewards themselves (RND, Bradley-Terry reward models).

See :mod:`rewardlab.rewards.learned.base` for the rules every learned reward keeps.
"""

from rewardlab.rewards.learned.base import Learnable, TransitionReward, Transitions
from rewardlab.rewards.learned.normalize import NormalizedText, ReturnNorm, RunningNorm, RunningStats

__all__ = [
    "Learnable",
    "NormalizedText",
    "ReturnNorm",
    "RunningNorm",
    "RunningStats",
    "TransitionReward",
    "Transitions",
]
