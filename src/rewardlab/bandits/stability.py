"""Policy stability under reward perturbations: the argmax policy against the entropy-regularised one.

Paper: "The Policy Cliff: A Theoretical Analysis of Reward-Policy Maps in Large Language Models"
(2025; docs/lm_optimisers_rover_rlp.md, Policy-stability). The map from a reward (or Q) vector to
its optimal policy is discontinuous where optimal actions are tied: with two tied best arms an
arbitrarily small perturbation moves the argmax policy from one arm to the other (total variation
1). Adding an entropy bonus ``tau * H(pi)`` makes the optimum the softmax ``pi = softmax(Q / tau)``,
which is Lipschitz in Q: ``TV(softmax(q / tau), softmax(q' / tau)) <= ||q - q'||_inf / (2 tau)``.
(Why: d softmax(z) = (diag p - p p^T) dz, whose l1 norm is the p-weighted mean absolute deviation
of dz, at most ||dz||_inf; TV is half the l1 distance.)

:class:`Softmax` is the bandit policy with that regularisation (Boltzmann exploration over sample
averages, Sutton & Barto 2018, Sec. 2.8 uses the same softmax over action preferences).
"""

from __future__ import annotations

import numpy as np

from rewardlab.bandits.stochastic import SampleAverages
from rewardlab.errors import ConfigError


def softmax_policy(q: np.ndarray, tau: float) -> np.ndarray:
    """``argmax_pi  pi . q + tau H(pi)`` = ``softmax(q / tau)`` over the last axis."""
    if tau <= 0:
        raise ConfigError(f"the softmax temperature tau must be > 0, got {tau}")
    z = np.asarray(q, dtype=np.float64) / tau
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def argmax_policy(q: np.ndarray) -> np.ndarray:
    """The unregularised optimum as a distribution: all mass on the first maximiser."""
    q = np.asarray(q, dtype=np.float64)
    out = np.zeros_like(q)
    np.put_along_axis(out, q.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return out


def entropy_regularised_value(pi: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    """The objective ``pi . q + tau H(pi)`` the softmax policy maximises."""
    pi = np.asarray(pi, dtype=np.float64)
    entropy = -np.sum(np.where(pi > 0, pi * np.log(np.where(pi > 0, pi, 1.0)), 0.0), axis=-1)
    return np.sum(pi * q, axis=-1) + tau * entropy


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum(axis=-1)


def softmax_tv_bound(perturbation_inf_norm: float, tau: float) -> float:
    """The Lipschitz bound ``||q - q'||_inf / (2 tau)`` on the softmax policy's total variation."""
    return perturbation_inf_norm / (2.0 * tau)


class Softmax(SampleAverages):
    """Plays ``softmax(sample means / tau)``: the entropy-regularised policy of the estimates."""

    def __init__(self, n_arms: int, n_runs: int, rng: np.random.Generator, tau: float = 0.1):
        if tau <= 0:
            raise ConfigError(f"tau (softmax temperature) must be > 0, got {tau}")
        super().__init__(n_arms, n_runs, rng)
        self.tau = tau

    def select(self, contexts: object = None) -> np.ndarray:
        means = self.means()
        # unplayed arms first, as the other sample-average policies do, so no estimate is blind
        unplayed = self.counts == 0
        probs = np.where(unplayed.any(1, keepdims=True), unplayed / np.maximum(unplayed.sum(1, keepdims=True), 1),
                         softmax_policy(means, self.tau))  # fmt: skip
        u = self.rng.random((self.n_runs, 1))
        return np.minimum((probs.cumsum(1) < u).sum(1), self.n_arms - 1)


__all__ = [
    "Softmax",
    "argmax_policy",
    "entropy_regularised_value",
    "softmax_policy",
    "softmax_tv_bound",
    "total_variation",
]
