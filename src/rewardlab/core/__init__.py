"""The Run (run directory, metrics, checkpoints, resume) and the Algorithm contract."""

from rewardlab.core.algorithm import Algorithm

__all__ = ["Algorithm"]
