"""rewardlab: train action-taking agents from rewards.

Bandits, tabular and deep RL on Gymnasium environments, and language-model agents trained with
verifiable rewards share one Run (config, metrics, checkpoints, resume) and one reward algebra.
"""

from rewardlab.errors import RewardlabError

__version__ = "0.1.0"
__all__ = ["RewardlabError", "__version__"]
