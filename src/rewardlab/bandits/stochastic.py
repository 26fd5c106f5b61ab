"""K-armed bandit policies: epsilon-greedy, UCB1, KL-UCB, Thompson sampling (Beta and Gaussian).

Each index is a pure function of the sufficient statistics (counts, reward sums, round) that a
test can call with hand-made numbers; the policy classes only keep those statistics, batched over
replicas (leading axis R, see :mod:`rewardlab.bandits.base`).

References
----------
* epsilon-greedy: Sutton & Barto (2018), Sec. 2.2-2.4 (sample averages, random tie-breaking).
* UCB1: Auer, Cesa-Bianchi & Fischer (2002), "Finite-time analysis of the multiarmed bandit
  problem", Fig. 1: play each arm once, then ``argmax mean_a + sqrt(2 ln t / n_a)``.
* KL-UCB: Garivier & Cappe (2011), "The KL-UCB algorithm for bounded stochastic bandits", Eq. (2):
  ``max {q >= mean_a : n_a kl(mean_a, q) <= ln t + c ln ln t}``; c = 0 as in their experiments.
* Thompson sampling: Beta(1 + successes, 1 + failures) for Bernoulli rewards, and the Gaussian
  posterior ``N(sum_a / (n_a + 1), sigma^2 / (n_a + 1))`` of Agrawal & Goyal (2013), "Further
  optimal regret bounds for Thompson sampling", Alg. 2.
"""

from __future__ import annotations

import numpy as np

from rewardlab.bandits.base import argmax_random_tie
from rewardlab.core.state import ARRAY, RNG, VALUE, Stateful


def ucb1_index(sums: np.ndarray, counts: np.ndarray, t: int, c: float = np.sqrt(2.0)) -> np.ndarray:
    """UCB1 index ``mean + c sqrt(ln t / n)``; unplayed arms get +inf (Auer et al. 2002)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        index = sums / counts + c * np.sqrt(np.log(max(t, 1)) / counts)
    return np.where(counts > 0, index, np.inf)


def kl_bernoulli(p: np.ndarray, q: np.ndarray, eps: float = 1e-15) -> np.ndarray:
    """KL divergence between Bernoulli(p) and Bernoulli(q), clipped away from 0 and 1."""
    p = np.clip(p, eps, 1 - eps)
    q = np.clip(q, eps, 1 - eps)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def kl_ucb_index(sums: np.ndarray, counts: np.ndarray, t: int, c: float = 0.0) -> np.ndarray:
    """KL-UCB upper bound ``max {q in [mean, 1] : kl(mean, q) <= (ln t + c ln ln t) / n}``.

    ``f(q) = kl(mean, q) - budget`` is convex and increasing on [mean, 1]. Sixteen bisection steps
    on [mean, Pinsker's bound mean + sqrt(budget / 2)] bracket the root; Newton steps from the
    right end of the bracket then decrease monotonically onto it (convexity), converging
    quadratically. Unplayed arms get +inf.
    """
    played = counts > 0
    n = np.where(played, counts, 1)
    p = np.clip(sums / n, 1e-12, 1 - 1e-12)
    log_t = np.log(max(t, 1))
    budget = (log_t + (c * np.log(log_t) if c and log_t > 1 else 0.0)) / n
    neg_entropy = p * np.log(p) + (1 - p) * np.log1p(-p)

    def f(q: np.ndarray) -> np.ndarray:
        return neg_entropy - p * np.log(q) - (1 - p) * np.log1p(-q) - budget

    lo, hi = p, np.minimum(p + np.sqrt(budget / 2.0), 1 - 1e-12)
    for _ in range(16):
        mid = 0.5 * (lo + hi)
        inside = f(mid) <= 0
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    q = hi
    for _ in range(3):
        value = f(q)
        slope = (q - p) / (q * (1 - q))
        q = np.maximum(q - np.where(value > 0, value / np.maximum(slope, 1e-300), 0.0), lo)
    return np.where(played, q, np.inf)


class SampleAverages(Stateful):
    """Counts and reward sums per arm: the statistics every K-armed policy here keeps."""

    state_fields = {"counts": ARRAY, "sums": ARRAY, "t": VALUE, "rng": RNG}

    def __init__(self, n_arms: int, n_runs: int, rng: np.random.Generator):
        self.n_arms, self.n_runs, self.rng = n_arms, n_runs, rng
        self.counts = np.zeros((n_runs, n_arms))
        self.sums = np.zeros((n_runs, n_arms))
        self.t = 0  # rounds observed
        self._rows = np.arange(n_runs)

    def update(self, arms: np.ndarray, rewards: np.ndarray, contexts: object = None) -> None:
        self.counts[self._rows, arms] += 1
        self.sums[self._rows, arms] += rewards
        self.t += 1

    def means(self) -> np.ndarray:
        return np.divide(self.sums, self.counts, out=np.zeros_like(self.sums), where=self.counts > 0)

    def greedy(self, contexts: object = None) -> np.ndarray:
        return argmax_random_tie(self.means(), self.rng)


class EpsilonGreedy(SampleAverages):
    """With probability epsilon a uniformly random arm, else the best sample average."""

    def __init__(self, n_arms: int, n_runs: int, rng: np.random.Generator, epsilon: float = 0.1):
        super().__init__(n_arms, n_runs, rng)
        self.epsilon = epsilon

    def select(self, contexts: object = None) -> np.ndarray:
        explore = self.rng.random(self.n_runs) < self.epsilon
        random_arms = self.rng.integers(self.n_arms, size=self.n_runs)
        return np.where(explore, random_arms, self.greedy())


class UCB1(SampleAverages):
    """Upper confidence bound policy of Auer et al. (2002)."""

    def __init__(self, n_arms: int, n_runs: int, rng: np.random.Generator, c: float = np.sqrt(2.0)):
        super().__init__(n_arms, n_runs, rng)
        self.c = c

    def select(self, contexts: object = None) -> np.ndarray:
        # t + 1: the index of round t uses ln of the number of rounds played so far including this one
        return argmax_random_tie(ucb1_index(self.sums, self.counts, self.t + 1, self.c), self.rng)


class KLUCB(SampleAverages):
    """KL-UCB for rewards in [0, 1] (Garivier & Cappe 2011)."""

    def __init__(self, n_arms: int, n_runs: int, rng: np.random.Generator, c: float = 0.0):
        super().__init__(n_arms, n_runs, rng)
        self.c = c

    def select(self, contexts: object = None) -> np.ndarray:
        return argmax_random_tie(kl_ucb_index(self.sums, self.counts, self.t + 1, self.c), self.rng)


class BetaThompson(SampleAverages):
    """Thompson sampling with a Beta(1, 1) prior for Bernoulli rewards."""

    def __init__(self, n_arms: int, n_runs: int, rng: np.random.Generator, prior_a: float = 1.0,
                 prior_b: float = 1.0):
        super().__init__(n_arms, n_runs, rng)
        self.prior_a, self.prior_b = prior_a, prior_b

    def select(self, contexts: object = None) -> np.ndarray:
        samples = self.rng.beta(self.prior_a + self.sums, self.prior_b + self.counts - self.sums)
        return np.argmax(samples, axis=1)

    def greedy(self, contexts: object = None) -> np.ndarray:
        posterior_mean = (self.prior_a + self.sums) / (self.prior_a + self.prior_b + self.counts)
        return argmax_random_tie(posterior_mean, self.rng)


class GaussianThompson(SampleAverages):
    """Thompson sampling with the Gaussian posterior of Agrawal & Goyal (2013), known noise scale."""

    def __init__(self, n_arms: int, n_runs: int, rng: np.random.Generator, noise_std: float = 1.0):
        super().__init__(n_arms, n_runs, rng)
        self.noise_std = noise_std

    def select(self, contexts: object = None) -> np.ndarray:
        n = self.counts + 1.0
        samples = self.sums / n + self.noise_std / np.sqrt(n) * self.rng.standard_normal(self.sums.shape)
        return np.argmax(samples, axis=1)

    def greedy(self, contexts: object = None) -> np.ndarray:
        return argmax_random_tie(self.sums / (self.counts + 1.0), self.rng)
