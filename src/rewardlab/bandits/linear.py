"""Linear contextual bandit policies: LinUCB and linear Thompson sampling.

Both keep ridge-regression statistics ``A = lambda I + sum x x^T`` (as its inverse, updated by
Sherman-Morrison, O(d^2) per round) and ``b = sum r x``; ``theta_hat = A^-1 b``.

* ``shared`` model (one theta for all arms, rewards ``<theta, x_{t,a}>``): Li, Chu, Langford &
  Schapire (2010), "A contextual-bandit approach to personalized news article recommendation",
  Eq. (4)-(5) with a single parameter (their hybrid model without arm-specific part); the same
  estimator as OFUL (Abbasi-Yadkori et al. 2011) with a constant width ``alpha``.
* ``disjoint`` model (one theta per arm): Li et al. (2010), Algorithm 1 - what MABWiser's
  ``LearningPolicy.LinUCB`` implements.
* Linear Thompson sampling: Agrawal & Goyal (2013), "Thompson sampling for contextual bandits with
  linear payoffs", Alg. 1: ``theta_tilde ~ N(theta_hat, v^2 A^-1)``, play ``argmax <theta_tilde, x>``.
"""

from __future__ import annotations

import numpy as np

from rewardlab.bandits.base import argmax_random_tie, check_context_shape
from rewardlab.core.state import ARRAY, RNG, VALUE, Stateful


def sherman_morrison_update(a_inv: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``(A + x x^T)^-1`` from ``A^-1`` (..., d, d) and ``x`` (..., d)."""
    u = np.einsum("...ij,...j->...i", a_inv, x)
    denom = 1.0 + np.einsum("...i,...i->...", x, u)
    return a_inv - u[..., :, None] * u[..., None, :] / denom[..., None, None]


def linucb_scores(theta: np.ndarray, a_inv: np.ndarray, contexts: np.ndarray, alpha: float) -> np.ndarray:
    """LinUCB index ``<theta, x> + alpha sqrt(x^T A^-1 x)`` for contexts (R, K, d).

    ``theta`` is (R, K, d) and ``a_inv`` (R, K, d, d): the parameter each arm is scored with (for
    the shared model, the same one repeated).
    """
    mean = np.einsum("rkd,rkd->rk", contexts, theta)
    width = np.einsum("rkd,rkde,rke->rk", contexts, a_inv, contexts)
    return mean + alpha * np.sqrt(np.maximum(width, 0.0))


class RidgeStatistics(Stateful):
    """Ridge statistics for ``G`` parameter groups (G = 1 shared, G = K disjoint), batched over R."""

    state_fields = {"a_inv": ARRAY, "b": ARRAY, "t": VALUE, "rng": RNG}

    def __init__(self, n_arms: int, dim: int, n_runs: int, rng: np.random.Generator, *,
                 ridge: float = 1.0, disjoint: bool = False):
        self.n_arms, self.dim, self.n_runs, self.rng = n_arms, dim, n_runs, rng
        self.disjoint = disjoint
        groups = n_arms if disjoint else 1
        self.group = np.arange(n_arms) if disjoint else np.zeros(n_arms, dtype=int)
        self.a_inv = np.broadcast_to(np.eye(dim) / ridge, (n_runs, groups, dim, dim)).copy()
        self.b = np.zeros((n_runs, groups, dim))
        self.t = 0
        self._rows = np.arange(n_runs)

    def theta_hat(self) -> np.ndarray:
        """(R, G, d) ridge estimate."""
        return np.einsum("rgij,rgj->rgi", self.a_inv, self.b)

    def update(self, arms: np.ndarray, rewards: np.ndarray, contexts: np.ndarray) -> None:
        g = self.group[arms]
        x = contexts[self._rows, arms]  # (R, d)
        self.a_inv[self._rows, g] = sherman_morrison_update(self.a_inv[self._rows, g], x)
        self.b[self._rows, g] += rewards[:, None] * x
        self.t += 1

    def greedy(self, contexts: np.ndarray) -> np.ndarray:
        check_context_shape(contexts, self.n_runs, self.n_arms, self.dim)
        theta = self.theta_hat()[:, self.group]
        return argmax_random_tie(np.einsum("rkd,rkd->rk", contexts, theta), self.rng)


class LinUCB(RidgeStatistics):
    """LinUCB (Li et al. 2010) with exploration width ``alpha`` (their default 1.0 in experiments
    ranges over [0, 1.5]; MABWiser's default is alpha = 1.0)."""

    def __init__(self, n_arms: int, dim: int, n_runs: int, rng: np.random.Generator, *,
                 alpha: float = 1.0, ridge: float = 1.0, disjoint: bool = False):
        super().__init__(n_arms, dim, n_runs, rng, ridge=ridge, disjoint=disjoint)
        self.alpha = alpha

    def select(self, contexts: np.ndarray) -> np.ndarray:
        check_context_shape(contexts, self.n_runs, self.n_arms, self.dim)
        theta = self.theta_hat()[:, self.group]
        scores = linucb_scores(theta, self.a_inv[:, self.group], contexts, self.alpha)
        return argmax_random_tie(scores, self.rng)


class LinearThompson(RidgeStatistics):
    """Linear Thompson sampling (Agrawal & Goyal 2013) with posterior scale ``v``."""

    def __init__(self, n_arms: int, dim: int, n_runs: int, rng: np.random.Generator, *,
                 v: float = 0.1, ridge: float = 1.0, disjoint: bool = False):
        super().__init__(n_arms, dim, n_runs, rng, ridge=ridge, disjoint=disjoint)
        self.v = v

    def select(self, contexts: np.ndarray) -> np.ndarray:
        check_context_shape(contexts, self.n_runs, self.n_arms, self.dim)
        cov = 0.5 * (self.a_inv + np.swapaxes(self.a_inv, -1, -2))  # symmetrise rounding drift
        chol = np.linalg.cholesky(cov)
        z = self.rng.standard_normal(self.b.shape)
        theta = self.theta_hat() + self.v * np.einsum("rgij,rgj->rgi", chol, z)
        return np.argmax(np.einsum("rkd,rkd->rk", contexts, theta[:, self.group]), axis=1)
