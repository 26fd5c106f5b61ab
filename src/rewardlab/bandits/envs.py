"""Stochastic K-armed and linear contextual bandit environments, each with an exact oracle.

* :class:`BernoulliBandit` / :class:`GaussianBandit`: arm ``a`` pays Bernoulli(mu_a) / N(mu_a, sigma^2).
* :class:`LinearBandit`: each round shows arm features ``x_{t,a}`` (d dims); the mean reward is
  ``<theta, x_{t,a}> + eps(x_{t,a})`` with an optional *s-sparse* theta and a *misspecification*
  ``|eps(x)| <= epsilon`` (the setting of "sparse misspecified linear bandits", seeds_table row 52;
  that row's algorithm is unverified, so only the environment is provided). ``linear_model =
  "disjoint"`` gives Li et al. (2010)'s variant instead: one shared context x_t, one theta per arm.

The problem instance (means, theta) comes from ``instance_seed``; the reward stream from ``seed``,
so several seeds of a Run share one instance and differ only in noise. Rewards are drawn from
common random numbers (one uniform/normal per replica per round, whatever arm is chosen), so two
policies run with the same seed see the same stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.core.state import ARRAY, RNG, Stateful
from rewardlab.errors import ConfigError


class KArmedBandit(Stateful):
    """Shared part of Bernoulli and Gaussian bandits: ``means`` (K,) is the exact oracle."""

    contextual = False
    state_fields = {"rng": RNG}

    def __init__(self, means: np.ndarray, n_runs: int = 1, seed: int = 0):
        self.means = np.asarray(means, dtype=float)
        if self.means.ndim != 1 or len(self.means) < 2:
            raise ConfigError(f"a bandit needs at least 2 arm means, got {self.means.tolist()}")
        self.n_arms = len(self.means)
        self.n_runs = n_runs
        self.best_mean = float(self.means.max())
        self.rng = np.random.default_rng(seed)

    def observe(self) -> None:
        return None

    def expected_rewards(self, contexts: Any = None) -> np.ndarray:
        """(R, K) mean reward of every arm this round."""
        return np.broadcast_to(self.means, (self.n_runs, self.n_arms))

    def _sample(self, arms: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def pull(self, arms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._sample(arms), self.best_mean - self.means[arms]


class BernoulliBandit(KArmedBandit):
    """K arms paying 1 with probability ``means[a]``, else 0."""

    summary = "K-armed Bernoulli bandit (arms, means, instance_seed)"

    def __init__(self, means: np.ndarray, n_runs: int = 1, seed: int = 0):
        super().__init__(means, n_runs, seed)
        if np.any((self.means < 0) | (self.means > 1)):
            raise ConfigError(f"Bernoulli arm means must lie in [0, 1], got {self.means.tolist()}")

    def _sample(self, arms: np.ndarray) -> np.ndarray:
        return (self.rng.random(self.n_runs) < self.means[arms]).astype(float)


class GaussianBandit(KArmedBandit):
    """K arms paying ``N(means[a], noise_std^2)``."""

    summary = "K-armed Gaussian bandit (arms, means, noise_std)"

    def __init__(self, means: np.ndarray, noise_std: float = 1.0, n_runs: int = 1, seed: int = 0):
        super().__init__(means, n_runs, seed)
        if not noise_std > 0:
            raise ConfigError(f"noise_std must be > 0, got {noise_std}")
        self.noise_std = float(noise_std)

    def _sample(self, arms: np.ndarray) -> np.ndarray:
        return self.means[arms] + self.noise_std * self.rng.standard_normal(self.n_runs)


class LinearBandit(Stateful):
    """Linear contextual bandit with optional sparsity and bounded misspecification.

    ``theta`` has unit norm; features are ``N(0, I/d)`` so ``|<theta, x>|`` is about ``1/sqrt(d)``.
    The misspecification term is ``epsilon * cos(<w, x> * 2 pi)`` for a fixed random ``w``: a
    deterministic, non-linear function of the features bounded by ``epsilon`` exactly.
    """

    summary = "linear contextual bandit, optionally sparse / misspecified / disjoint (arms, dim, sparsity, misspecification)"
    contextual = True
    state_fields = {"rng": RNG, "_contexts": ARRAY}

    def __init__(
        self,
        n_arms: int = 10,
        dim: int = 5,
        *,
        sparsity: int = 0,
        misspecification: float = 0.0,
        noise_std: float = 0.1,
        linear_model: str = "shared",
        n_runs: int = 1,
        seed: int = 0,
        instance_seed: int = 0,
    ):
        if n_arms < 2:
            raise ConfigError(f"arms must be >= 2, got {n_arms}")
        if dim < 1:
            raise ConfigError(f"dim must be >= 1, got {dim}")
        if not 0 <= sparsity <= dim:
            raise ConfigError(f"sparsity must be in [0, dim={dim}] (0 = dense), got {sparsity}")
        if misspecification < 0:
            raise ConfigError(f"misspecification must be >= 0, got {misspecification}")
        if linear_model not in ("shared", "disjoint"):
            raise ConfigError(f"linear_model must be 'shared' or 'disjoint', got {linear_model!r}")
        self.n_arms, self.dim, self.n_runs = n_arms, dim, n_runs
        self.linear_model = linear_model
        self.misspecification = float(misspecification)
        self.noise_std = float(noise_std)
        inst = np.random.default_rng(instance_seed)
        n_theta = n_arms if linear_model == "disjoint" else 1
        theta = inst.standard_normal((n_theta, dim))
        if sparsity:
            support = np.argsort(inst.random((n_theta, dim)), axis=1)[:, :sparsity]
            mask = np.zeros_like(theta, dtype=bool)
            np.put_along_axis(mask, support, True, axis=1)
            theta = np.where(mask, theta, 0.0)
        self.theta = theta / np.linalg.norm(theta, axis=1, keepdims=True)  # (1 or K, d)
        self._w = inst.standard_normal(dim)
        self.rng = np.random.default_rng(seed)
        self._contexts = self._draw()

    def _draw(self) -> np.ndarray:
        scale = 1.0 / np.sqrt(self.dim)
        if self.linear_model == "disjoint":
            x = self.rng.standard_normal((self.n_runs, 1, self.dim)) * scale
            return np.broadcast_to(x, (self.n_runs, self.n_arms, self.dim)).copy()
        return self.rng.standard_normal((self.n_runs, self.n_arms, self.dim)) * scale

    def observe(self) -> np.ndarray:
        return self._contexts

    def expected_rewards(self, contexts: np.ndarray) -> np.ndarray:
        """(R, K) exact mean rewards, misspecification included."""
        linear = np.einsum("rkd,kd->rk", contexts, np.broadcast_to(self.theta, (self.n_arms, self.dim)))
        if self.misspecification:
            linear = linear + self.misspecification * np.cos(2 * np.pi * contexts @ self._w)
        return linear

    def pull(self, arms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = self.expected_rewards(self._contexts)
        rows = np.arange(self.n_runs)
        chosen = mu[rows, arms]
        rewards = chosen + self.noise_std * self.rng.standard_normal(self.n_runs)
        regret = mu.max(axis=1) - chosen
        self._contexts = self._draw()
        return rewards, regret
