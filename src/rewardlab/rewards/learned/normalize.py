"""Reward normalisation as combinators with state (not a hidden flag).

* :class:`RunningNorm`: ``(r - mean) / std`` over every value scored so far (imitation's
  ``NormalizedRewardNet`` with ``RunningNorm``).
* :class:`NormalizedText`: the same for a text ``Reward``'s totals, frozen after ``fit`` by default.
* :class:`ReturnNorm`: ``r / std(discounted return)``, where the return is filtered **per env over
  time** (``R_t = gamma R_{t-1} + r_t``), as OpenAI's RND and Gymnasium's NormalizeReward do.
  CleanRL's ``ppo_rnd_envpool.py`` loops over the transposed (envs, steps) buffer and so
  discounts across envs instead (cleanrl issue #360); the unit test pins the time-wise version.

Both update their statistics when scoring (the declared running statistics of the contract):
the scored batch is folded in first, then normalised with the updated statistics. With
``freeze_after_fit=True`` the statistics are set by :meth:`fit` (OpenRLHF stores a trained
RM's mean/std once) and never move again; a frozen normaliser that never saw data is an error,
not a silent no-op (OpenRLHF issue #693).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

from rewardlab.core.state import ARRAY, OBJECT, VALUE
from rewardlab.errors import RewardlabError
from rewardlab.rewards.base import Reward, RewardResult, Sample
from rewardlab.rewards.learned.base import Learnable, TransitionReward, Transitions


class RunningStats(RunningMeanStd):
    """Gymnasium's parallel-algorithm running mean/variance, with a state_dict."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "mean": np.array(self.mean, copy=True),
            "var": np.array(self.var, copy=True),
            "count": self.count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = np.array(state["mean"]), np.array(state["var"]), state["count"]


class _Normalized(TransitionReward):
    """A transition reward wrapped by a normaliser; stream settings, fit and update are the inner's."""

    state_fields = {"reward": OBJECT, "stats": OBJECT, "frozen": VALUE, "fitted": VALUE}

    def __init__(self, reward: TransitionReward, *, freeze_after_fit: bool = False, epsilon: float = 1e-8):
        self.reward = reward
        self.name = reward.name
        self.gamma, self.episodic, self.coef = reward.gamma, reward.episodic, reward.coef
        self.update_order, self.warmup_steps = reward.update_order, reward.warmup_steps
        self.observation_space, self.action_space = reward.observation_space, reward.action_space
        self.num_envs = reward.num_envs
        self.init_generators(reward.seed)
        self.freeze_after_fit, self.epsilon = freeze_after_fit, epsilon
        self.stats = RunningStats(shape=())
        self.frozen = False
        self.fitted = False

    def fit(self, data: Transitions) -> dict[str, float]:
        metrics = self.reward.fit(data)
        if self.freeze_after_fit:
            self.stats = RunningStats(shape=())
            self._normalise(self.reward.score_checked(data), data, update=True)
            self.frozen = True
        self.fitted = True
        return metrics

    def update(self, batch: Transitions) -> dict[str, float]:
        return self.reward.update(batch)

    def score(self, batch: Transitions) -> np.ndarray:
        if self.frozen is False and self.freeze_after_fit:
            raise RewardlabError(
                f"reward {self.name!r}: normaliser with freeze_after_fit has no statistics; call fit() "
                "on reference data before scoring"
            )
        return self._normalise(self.reward.score_checked(batch), batch, update=not self.frozen)

    def parameters(self):
        return self.reward.parameters()

    def non_finite(self) -> str | None:
        return self.reward.non_finite()

    def _normalise(self, values: np.ndarray, batch: Transitions, update: bool) -> np.ndarray:
        raise NotImplementedError


class RunningNorm(_Normalized):
    """``(r - mean) / sqrt(var + eps)`` with the running mean/variance of all scored values."""

    def _normalise(self, values: np.ndarray, batch: Transitions, update: bool) -> np.ndarray:
        if update:
            self.stats.update(values)
        return (values - self.stats.mean) / np.sqrt(self.stats.var + self.epsilon)


class ReturnNorm(_Normalized):
    """``r / sqrt(var(R) + eps)`` with ``R`` the per-env discounted return filtered over time.

    The batch is time-major (``Transitions``), so ``values.reshape(T, num_envs)`` puts time on
    the first axis. For an episodic reward the filtered return restarts after each episode end
    (Gymnasium's NormalizeReward); for a non-episodic one (RND) it runs on. No mean is subtracted,
    so the sign of the reward survives (Burda et al. 2019).
    """

    state_fields = {"returns": ARRAY}

    def __init__(self, reward: TransitionReward, gamma: float | None = None, **kwargs: Any):
        super().__init__(reward, **kwargs)
        self.filter_gamma = float(
            gamma if gamma is not None else (reward.gamma if reward.gamma is not None else 0.99)
        )
        self.returns = np.zeros(self.num_envs)

    def filtered_returns(self, values: np.ndarray, done: np.ndarray) -> np.ndarray:
        """The forward-filtered returns (T, num_envs) for time-major ``values``; advances ``self.returns``."""
        n = self.num_envs
        if len(values) % n:
            raise RewardlabError(
                f"reward {self.name!r}: a batch of {len(values)} transitions is not whole steps of {n} envs"
            )
        rewards = values.reshape(-1, n)
        dones = done.reshape(-1, n)
        out = np.empty_like(rewards)
        running = self.returns.copy()
        for t in range(rewards.shape[0]):
            running = running * self.filter_gamma + rewards[t]
            out[t] = running
            if self.episodic:
                running = np.where(dones[t], 0.0, running)
        self.returns = running
        return out

    def _normalise(self, values: np.ndarray, batch: Transitions, update: bool) -> np.ndarray:
        if update:
            returns = self.filtered_returns(values, np.asarray(batch.done, dtype=bool))
            self.stats.update(returns.reshape(-1))
        return values / np.sqrt(self.stats.var + self.epsilon)


class NormalizedText(Learnable, Reward):
    """``(r - mean) / std`` of a text reward's totals, with running or frozen statistics.

    The components stay raw (for logging); only the total is normalised. ``fit(samples)`` sets the
    statistics from reference samples (OpenRLHF computes a trained RM's mean/std once, on its eval
    set); with ``freeze_after_fit`` they stay fixed from then on."""

    state_fields = {"stats": OBJECT, "frozen": VALUE, "fitted": VALUE}
    minimum, maximum = -np.inf, np.inf

    def __init__(
        self, reward: Reward, *, freeze_after_fit: bool = True, epsilon: float = 1e-8, name: str | None = None
    ):
        Reward.__init__(self, name=name or reward.name)
        self.init_generators(0)
        self.reward, self.freeze_after_fit, self.epsilon = reward, freeze_after_fit, epsilon
        self.stats = RunningStats(shape=())
        self.frozen = False
        self.fitted = False

    def children(self) -> list[Reward]:
        return [self.reward]

    def fit(self, data: Sequence[Sample]) -> dict[str, float]:
        totals = self.reward.score(data).total
        self.stats = RunningStats(shape=())
        self.stats.update(totals)
        self.frozen, self.fitted = self.freeze_after_fit, True
        return {"mean": float(self.stats.mean), "std": float(np.sqrt(self.stats.var))}

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        if self.freeze_after_fit and not self.fitted:
            raise RewardlabError(
                f"reward {self.name!r}: normaliser with freeze_after_fit has no statistics; call fit() on "
                "reference samples before scoring"
            )
        inner = self.reward.score(samples)
        if not self.frozen and len(inner.total):
            self.stats.update(inner.total)
        total = (inner.total - self.stats.mean) / np.sqrt(self.stats.var + self.epsilon)
        bounds = {**inner.bounds, self.name: (-np.inf, np.inf)}
        components = dict(inner.components)
        if self.name != inner.name:
            components[inner.name] = inner.total
        return RewardResult(self.name, total, components, bounds, inner.notes, inner.counts)
