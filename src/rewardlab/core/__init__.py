"""The Run (run directory, metrics, checkpoints, resume) and the Algorithm contract.

Nothing is imported here eagerly: a Ray env actor imports ``rewardlab.core.ray_backend`` and
``rewardlab.core.envstate`` only, and stays free of torch (3 CPU-seconds and 200 MB per process).
"""

from typing import Any

__all__ = ["Algorithm"]


def __getattr__(name: str) -> Any:
    if name == "Algorithm":
        from rewardlab.core.algorithm import Algorithm

        return Algorithm
    raise AttributeError(f"module 'rewardlab.core' has no attribute {name!r}")
