"""Rewards made of rewards: WeightedSum, Gate, Clip, Scale, Hierarchical.

Every combinator is itself a :class:`~rewardlab.rewards.base.Reward`. It scores each child on the
whole batch and combines the arrays, so each child's values (and the child's own components)
stay in the result under the child's name and the Run logs every component's mean. Children of
one combinator must have distinct names (give one ``name=...`` when two differ only in
parameters).

The composition operators are those the seed papers use: weighted sums (UI-R1 1+1+1, VLA-R1
0.9/0.1), hard format gates (FrameThinker, Thoth SCORE), clipping (ORPO's
``discriminator_reward_clip``), type-gated hierarchies (Shop-R1); see
docs/calibration.md, "Reward composition in the seed papers".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Reward, RewardResult, Sample, as_samples


def _merge(name: str, total: np.ndarray, bounds: tuple[float, float], children: list[RewardResult]) -> RewardResult:
    components: dict[str, np.ndarray] = {}
    all_bounds: dict[str, tuple[float, float]] = {name: bounds}
    counts: dict[str, int] = {}
    n = len(total)
    notes = [""] * n
    for child in children:
        components.update(child.values())
        all_bounds.update(child.bounds)
        for k, v in child.counts.items():
            counts[k] = counts.get(k, 0) + v
        for i, note in enumerate(child.notes):
            if note:
                notes[i] = f"{notes[i]}; {note}" if notes[i] else note
    return RewardResult(name, total, components, all_bounds, notes, counts)


def _check_children(owner: str, rewards: Sequence[Reward]) -> list[Reward]:
    rewards = list(rewards)
    if not rewards:
        raise ConfigError(f"{owner} needs at least one reward")
    for r in rewards:
        if not isinstance(r, Reward):
            raise ConfigError(f"{owner}: {r!r} is not a Reward (wrap functions with @reward or from_trl)")
    owners: dict[str, int] = {}
    for r in rewards:
        for name, ident in _subtree(r):
            if owners.setdefault(name, ident) != ident:
                raise ConfigError(
                    f"{owner}: two parts are both named {name!r}; give one a distinct name=... so each "
                    "component is logged under its own name"
                )
    return rewards


def _subtree(r: Reward) -> list[tuple[str, int]]:
    """(name, id) of a reward and of every reward inside it; the same object may appear twice."""
    out = [(r.name, id(r))]
    for child in r.children():
        out += _subtree(child)
    return out


def _weighted_range(weight: float, lo: float, hi: float) -> tuple[float, float]:
    a, b = weight * lo, weight * hi
    return min(a, b), max(a, b)


class WeightedSum(Reward):
    """``total = sum_i w_i * r_i`` (weights default to 1)."""

    name = "weighted_sum"

    def __init__(
        self,
        rewards: Sequence[Reward],
        weights: Sequence[float] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.rewards = _check_children(f"WeightedSum {self.name!r}", rewards)
        weights = [1.0] * len(self.rewards) if weights is None else [float(w) for w in weights]
        if len(weights) != len(self.rewards):
            raise ConfigError(
                f"WeightedSum {self.name!r}: {len(weights)} weights for {len(self.rewards)} rewards"
            )
        self.weights = weights
        ranges = [_weighted_range(w, r.minimum, r.maximum) for w, r in zip(weights, self.rewards)]
        self.minimum = sum(lo for lo, _ in ranges)
        self.maximum = sum(hi for _, hi in ranges)

    def children(self) -> list[Reward]:
        return list(self.rewards)

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        results = [r.score(samples) for r in self.rewards]
        total = np.zeros(len(samples))
        for w, res in zip(self.weights, results):
            total += w * res.total
        return _merge(self.name, total, (self.minimum, self.maximum), results)


class Gate(Reward):
    """``total = reward`` where ``gate >= threshold``, else ``fail_value`` (format-gated accuracy).

    ``threshold`` defaults to the gate's declared maximum (a 0/1 format check must be 1).
    """

    name = "gate"

    def __init__(
        self,
        gate: Reward,
        reward: Reward,
        *,
        threshold: float | None = None,
        fail_value: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.gate, self.reward = _check_children(f"Gate {self.name!r}", [gate, reward])
        self.threshold = float(gate.maximum if threshold is None else threshold)
        self.fail_value = float(fail_value)
        self.minimum = min(reward.minimum, self.fail_value)
        self.maximum = max(reward.maximum, self.fail_value)

    def children(self) -> list[Reward]:
        return [self.gate, self.reward]

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        g, r = self.gate.score(samples), self.reward.score(samples)
        total = np.where(g.total >= self.threshold, r.total, self.fail_value)
        return _merge(self.name, total, (self.minimum, self.maximum), [g, r])


class Clip(Reward):
    """``total = clip(reward, low, high)``."""

    name = "clip"

    def __init__(self, reward: Reward, low: float, high: float, *, name: str | None = None) -> None:
        super().__init__(name=name or f"{reward.name}_clip")
        (self.reward,) = _check_children(f"Clip {self.name!r}", [reward])
        if not low <= high:
            raise ConfigError(f"Clip {self.name!r}: low ({low}) must be <= high ({high})")
        self.low, self.high = float(low), float(high)
        self.minimum = min(max(reward.minimum, self.low), self.high)
        self.maximum = max(min(reward.maximum, self.high), self.low)

    def children(self) -> list[Reward]:
        return [self.reward]

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        r = self.reward.score(samples)
        return _merge(self.name, np.clip(r.total, self.low, self.high), (self.minimum, self.maximum), [r])


class Scale(Reward):
    """``total = factor * reward + offset`` (e.g. RLVER's emotion / 100)."""

    name = "scale"

    def __init__(self, reward: Reward, factor: float, offset: float = 0.0, *, name: str | None = None) -> None:
        super().__init__(name=name or f"{reward.name}_scaled")
        (self.reward,) = _check_children(f"Scale {self.name!r}", [reward])
        self.factor, self.offset = float(factor), float(offset)
        lo, hi = _weighted_range(self.factor, reward.minimum, reward.maximum)
        self.minimum, self.maximum = lo + self.offset, hi + self.offset

    def children(self) -> list[Reward]:
        return [self.reward]

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        r = self.reward.score(samples)
        return _merge(self.name, self.factor * r.total + self.offset, (self.minimum, self.maximum), [r])


class Hierarchical(Reward):
    """Levels that count only once every earlier level passes (Shop-R1's type-gated hierarchy).

    ``total = sum_k w_k * r_k * prod_{j<k} [r_j >= t_j]`` with thresholds ``t_j`` defaulting to
    each level's declared maximum (for Shop-R1: attribute and value rewards count only when the
    action type is right). Weights default to 1.
    """

    name = "hierarchical"

    def __init__(
        self,
        levels: Sequence[Reward],
        weights: Sequence[float] | None = None,
        thresholds: Sequence[float | None] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.levels = _check_children(f"Hierarchical {self.name!r}", levels)
        k = len(self.levels)
        self.weights = [1.0] * k if weights is None else [float(w) for w in weights]
        thresholds = [None] * k if thresholds is None else list(thresholds)
        if len(self.weights) != k or len(thresholds) != k:
            raise ConfigError(
                f"Hierarchical {self.name!r}: {k} levels need {k} weights and {k} thresholds, got "
                f"{len(self.weights)} and {len(thresholds)}"
            )
        self.thresholds = [float(r.maximum if t is None else t) for r, t in zip(self.levels, thresholds)]
        ranges = [_weighted_range(w, r.minimum, r.maximum) for w, r in zip(self.weights, self.levels)]
        # A gated-off level contributes 0, so 0 joins every level's range but the first.
        self.minimum = ranges[0][0] + sum(min(lo, 0.0) for lo, _ in ranges[1:])
        self.maximum = ranges[0][1] + sum(max(hi, 0.0) for _, hi in ranges[1:])

    def children(self) -> list[Reward]:
        return list(self.levels)

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        results = [r.score(samples) for r in self.levels]
        total = np.zeros(len(samples))
        passed = np.ones(len(samples), dtype=bool)
        for w, t, res in zip(self.weights, self.thresholds, results):
            total += np.where(passed, w * res.total, 0.0)
            passed &= res.total >= t
        return _merge(self.name, total, (self.minimum, self.maximum), results)
