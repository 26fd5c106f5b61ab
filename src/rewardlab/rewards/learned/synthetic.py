"""A synthetic preference set with a known true reward, for calibrating reward models and best-of-N.

From the research note's experiment E1/E2 (docs/learned_rewards.md): features ``x ~ N(0, I_16)``, a
true reward ``r*(x) = 3 tanh(x W1) W2`` (W1 16 x 32, W2 32, Gaussian entries / sqrt(fan-in)), and
pairs labelled by Bradley-Terry sampling, ``P(a preferred to b) = sigmoid(beta (r*(a) - r*(b)))``.
The *Bayes bound* is the pairwise accuracy of ``r*`` itself on the noisy labels: no reward model
can beat it in expectation.
"""

from __future__ import annotations

import numpy as np

from rewardlab.rewards.learned.bradley_terry import Pairs


class SyntheticPreferences:
    """The true reward (fixed by ``task_seed``) and samplers of pairs and best-of-N candidates."""

    def __init__(self, dim: int = 16, hidden: int = 32, scale: float = 3.0, task_seed: int = 0):
        rng = np.random.default_rng(task_seed)
        self.dim = dim
        self.w1 = rng.standard_normal((dim, hidden)) / np.sqrt(dim)
        self.w2 = rng.standard_normal(hidden) / np.sqrt(hidden)
        self.scale = scale

    def true_reward(self, x: np.ndarray) -> np.ndarray:
        return self.scale * np.tanh(x @ self.w1) @ self.w2

    def pairs(self, n: int, beta: float, seed: int) -> Pairs:
        """``n`` pairs of N(0, I) features, the chosen one drawn by the Bradley-Terry probability."""
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((n, self.dim))
        b = rng.standard_normal((n, self.dim))
        p_a = 1.0 / (1.0 + np.exp(-beta * (self.true_reward(a) - self.true_reward(b))))
        a_wins = (rng.random(n) < p_a)[:, None]
        return Pairs(np.where(a_wins, a, b).astype(np.float32), np.where(a_wins, b, a).astype(np.float32))

    def bayes_accuracy(self, pairs: Pairs) -> float:
        return float(np.mean(self.true_reward(pairs.chosen) > self.true_reward(pairs.rejected)))

    def candidates(
        self, prompts: int, n: int, seed: int, centre_std: float = 0.5, sigma: float = 1.0
    ) -> np.ndarray:
        """(prompts, n, dim): per prompt a centre ``c ~ N(0, centre_std^2 I)`` and n proposals
        ``c + sigma N(0, I)`` (the "policy" best-of-N picks from)."""
        rng = np.random.default_rng(seed)
        centres = centre_std * rng.standard_normal((prompts, 1, self.dim))
        return (centres + sigma * rng.standard_normal((prompts, n, self.dim))).astype(np.float32)
