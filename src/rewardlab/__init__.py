"""rewardlab: train action-taking agents from rewards.

Bandits, tabular and deep RL on Gymnasium environments, and language-model agents trained with
verifiable rewards share one Run (config, metrics, checkpoints, resume) and one reward algebra.

    import rewardlab
    run = rewardlab.train("ppo", env="CartPole-v1", total_steps=50_000)
    agent = rewardlab.load(run.dir)

``train``, ``load`` and ``evaluate`` live in :mod:`rewardlab.api`; they are imported on first use,
so ``import rewardlab`` stays light (no torch, no transformers).
"""

from typing import TYPE_CHECKING, Any

from rewardlab.errors import RewardlabError

__version__ = "0.1.0"
__all__ = ["RewardlabError", "__version__", "evaluate", "load", "train"]

if TYPE_CHECKING:
    from rewardlab.api import evaluate, load, train


def __getattr__(name: str) -> Any:
    if name in ("train", "load", "evaluate"):
        from rewardlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'rewardlab' has no attribute {name!r}")
