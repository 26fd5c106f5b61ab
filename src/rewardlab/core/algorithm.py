"""The Algorithm contract: what the Run calls. An algorithm never writes files itself."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from rewardlab.config import RunConfig
from rewardlab.core.device import algorithm_device
from rewardlab.core.state import PROCESS_RNGS, VALUE, Stateful


class Algorithm(Stateful, abc.ABC):
    """One trainable agent. The Run drives it::

        algo = Algo(config)
        while algo.global_step < config.total_steps:
            metrics = algo.step()            # one iteration: collect + update
        result = algo.evaluate(config.eval_episodes)

    ``state_dict()`` must hold everything needed to continue bit-for-bit on CPU: networks,
    optimizers, buffers, RNG states (torch, numpy, python, env), schedules and counters. A subclass
    does not write it: it declares its fields once in ``state_fields`` (name -> kind) and names
    the attributes ``__init__`` rebuilds from the config in ``rebuilt_fields``
    (:mod:`rewardlab.core.state`). Every algorithm saves ``global_step`` and the process-wide
    generators (``rng``: torch, numpy, python), which sampling code reaches without a handle.
    """

    state_fields: ClassVar[dict[str, str]] = {"global_step": VALUE, "rng": PROCESS_RNGS}
    rebuilt_fields: ClassVar[tuple[str, ...]] = ("config", "device")
    #: follows rewardlab.core.device's rule, so ``device = "cuda"`` is honoured (else refused by name)
    gpu_ready: ClassVar[bool] = False

    #: the dataclass holding this algorithm's hyper-parameters (a RunConfig subclass)
    config_class: ClassVar[type[RunConfig]] = RunConfig
    #: the metric `rewardlab plot` draws by default, and which direction is better
    curve_metric: ClassVar[str] = "episode_return_mean"
    #: one line for `rewardlab list`
    summary: ClassVar[str] = ""

    def __init__(self, config: RunConfig):
        self.config = config
        #: where the algorithm's networks and tensors live (``config.device``; CPU by default)
        self.device = algorithm_device(self, config)
        #: progress in the unit of ``config.total_steps`` (env steps, rounds, optimizer steps)
        self.global_step = 0

    @abc.abstractmethod
    def step(self) -> dict[str, float]:
        """Run one iteration and return its metrics (plain floats)."""

    @abc.abstractmethod
    def evaluate(self, episodes: int) -> dict[str, Any]:
        """Evaluate the current policy; must return ``mean_return``, ``std_return``, ``episodes``."""

    def pop_records(self) -> dict[str, list[dict[str, Any]]]:
        """Records made since the last call, by file stem: ``{"samples": [...]}`` is appended to the
        run's ``samples.jsonl`` (e.g. an LM's prompts, completions and rewards every N steps)."""
        return {}

    def pop_warnings(self) -> list[str]:
        """Warnings raised since the last call (e.g. a reward-hacking monitor); the Run writes them to
        ``run.log`` with the step and shows them above the progress bar."""
        return []

    def parameters_finite(self) -> str | None:
        """Name of a parameter that is NaN/inf, or None. Override for algorithms with torch modules."""
        return None

    def close(self) -> None:  # noqa: B027  (optional hook: most algorithms have nothing to release)
        """Release environments and worker processes."""
