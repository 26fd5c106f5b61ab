"""Length rewards: DAPO's soft overlong punishment and Kimi k1.5's group length penalty.

Length is counted in ``unit``: ``"tokens"`` (``sample.completion_ids``, else
``sample.info["num_tokens"]``; a sample with neither is a data error), ``"chars"`` or
``"words"`` (whitespace-separated).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Reward, RewardResult, Sample, Scored, as_samples

UNITS = ("tokens", "chars", "words")


def completion_length(sample: Sample, unit: str) -> int:
    if unit == "chars":
        return len(sample.completion)
    if unit == "words":
        return len(sample.completion.split())
    if sample.completion_ids is not None:
        return len(sample.completion_ids)
    if "num_tokens" in sample.info:
        return int(sample.info["num_tokens"])
    raise ValueError("unit='tokens' needs sample.completion_ids or info['num_tokens'] (or use unit='chars')")


def _check_unit(owner: str, unit: str) -> str:
    if unit not in UNITS:
        raise ConfigError(f"{owner}: unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return unit


def soft_overlong_penalty(lengths: Any, max_length: int, cache_length: int) -> np.ndarray:
    """DAPO's soft overlong punishment of completion lengths (array or scalar): 0 up to
    ``max_length - cache_length``, then linear down to -1 at ``max_length``, -1 beyond. The one
    implementation: the ``overlong_penalty`` reward and GRPO's ``overlong_buffer`` option both use it."""
    lengths = np.asarray(lengths, dtype=np.float64)
    expected = max_length - cache_length
    return np.where(lengths <= expected, 0.0, np.maximum((expected - lengths) / cache_length, -1.0))


class OverlongPenalty(Reward):
    """DAPO's soft overlong punishment (Yu et al., 2025, "DAPO: An Open-Source LLM Reinforcement
    Learning System at Scale", arXiv 2503.14476, Eq. 13; code: TRL
    ``trl/rewards/other_rewards.py::get_soft_overlong_punishment``, verl
    ``verl/workers/reward_manager/dapo.py``)::

        R(L) = 0                                   if L <= L_max - L_cache
             = ((L_max - L_cache) - L) / L_cache   if L_max - L_cache < L <= L_max
             = -1                                  if L > L_max

    Defaults are the paper's: L_max = 20480 tokens (16384 expected + 4096 cache), L_cache = 4096.
    Range [-1, 0]. Add it to the task reward with a WeightedSum.
    """

    name = "overlong_penalty"
    description = "DAPO soft overlong punishment: 0 up to L_max - L_cache, linear to -1 at L_max, in [-1, 0]"
    minimum, maximum = -1.0, 0.0

    def __init__(
        self,
        *,
        max_length: int = 20480,
        cache_length: int = 4096,
        unit: str = "tokens",
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        if not 0 < cache_length <= max_length:
            raise ConfigError(
                f"{self.name}: need 0 < cache_length <= max_length, got {cache_length} and {max_length}"
            )
        self.max_length, self.cache_length = int(max_length), int(cache_length)
        self.unit = _check_unit(self.name, unit)

    def compute(self, sample: Sample) -> float:
        return float(soft_overlong_penalty(completion_length(sample, self.unit), self.max_length, self.cache_length))


class LengthPenalty(Reward):
    """Kimi k1.5's length penalty over each group of completions to the same prompt (Kimi Team,
    2025, "Kimi k1.5: Scaling Reinforcement Learning with LLMs", arXiv 2501.12599, section
    2.3.3)::

        lambda_i = 0.5 - (len_i - min_len) / (max_len - min_len)
        r_i = lambda_i if correct_i else min(0, lambda_i)

    with min/max over the sample's group; a group whose lengths are all equal scores 0. Range
    [-0.5, 0.5]. The group is ``sample.info[group_key]`` when present, else the prompt (GRPO's
    group). Correctness is ``bool(sample.info[correct_key])`` when present; without it every
    sample counts as correct, i.e. a pure "shorter is better" within the group.
    """

    name = "length_penalty"
    description = "Kimi k1.5 group length penalty 0.5 - (len - min)/(max - min) (correct) / min(0, .) (wrong)"
    minimum, maximum = -0.5, 0.5

    def __init__(
        self,
        *,
        unit: str = "tokens",
        group_key: str = "group",
        correct_key: str = "correct",
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        self.unit = _check_unit(self.name, unit)
        self.group_key, self.correct_key = group_key, correct_key

    def _group(self, sample: Sample) -> Any:
        if self.group_key in sample.info:
            return ("key", repr(sample.info[self.group_key]))
        return ("prompt", repr(sample.prompt))

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        lengths: list[int | None] = []
        scored: list[Scored | None] = []
        for i, s in enumerate(samples):
            try:
                lengths.append(completion_length(s, self.unit))
                scored.append(None)
            except (ValueError, TypeError) as e:
                lengths.append(None)
                scored.append(self.error(i, s, f"raised {type(e).__name__}: {e}", e))
        groups: dict[Any, list[int]] = {}
        for i, s in enumerate(samples):
            if lengths[i] is not None:
                groups.setdefault(self._group(s), []).append(i)
        for members in groups.values():
            lo = min(lengths[i] for i in members)
            hi = max(lengths[i] for i in members)
            for i in members:
                lam = 0.0 if hi == lo else 0.5 - (lengths[i] - lo) / (hi - lo)
                correct = bool(samples[i].info.get(self.correct_key, True))
                scored[i] = Scored(lam if correct else min(0.0, lam))
        return self.assemble(samples, scored)
