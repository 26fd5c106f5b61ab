"""Inference-time selection with a reward: best-of-N (DeformPAM's and ARMAP-B's use of a reward model).

For each prompt, score its N candidates and keep one: the highest-scoring (``select="argmax"``)
or one drawn with probability ``softmax(score / temperature)`` (``"softmax"``: under a noisy reward
its choice moves smoothly, where argmax can flip on a tie; Policy Cliff's argument).

Logged per call: the mean chosen score, the mean gap between the best and the runner-up score,
and the analytic KL between the best-of-N policy and the sampling policy, ``log N - (N - 1) / N``
(the formula used since Stiennon et al. 2020; Beirami et al. 2024 show it bounds the true KL from above).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab.errors import ConfigError, RewardlabError

SELECT = ("argmax", "softmax")


def best_of_n_kl(n: int) -> float:
    """KL(best-of-n || policy) = log n - (n - 1) / n."""
    return math.log(n) - (n - 1) / n


@dataclass
class BestOfN:
    chosen: list[Any]  # one candidate per prompt
    index: np.ndarray  # (prompts,) position of the chosen candidate
    scores: np.ndarray  # (prompts, n) every candidate's score
    metrics: dict[str, float] = field(default_factory=dict)


def best_of_n(
    candidates: Sequence[Sequence[Any]],
    reward: Any,
    n: int,
    select: str = "argmax",
    *,
    temperature: float = 1.0,
    rng: np.random.Generator | None = None,
) -> BestOfN:
    """Pick one of the first ``n`` candidates of each prompt by ``reward``.

    ``reward`` is called once on all candidates, flattened prompt by prompt (a rewardlab
    ``Reward`` on Samples, or any callable returning one float per item)."""
    if select not in SELECT:
        raise ConfigError(f"best_of_n: select {select!r} is not one of {', '.join(SELECT)}")
    if n < 1:
        raise ConfigError(f"best_of_n: n must be >= 1, got {n}")
    for i, c in enumerate(candidates):
        if len(c) < n:
            raise RewardlabError(f"best_of_n: prompt {i} has {len(c)} candidates, fewer than n = {n}")
    flat = [c for group in candidates for c in list(group)[:n]]
    scores = np.asarray(reward(flat), dtype=np.float64).reshape(len(candidates), n)
    if select == "argmax":
        index = scores.argmax(1)
    else:
        rng = rng if rng is not None else np.random.default_rng()
        logits = scores / temperature
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        index = (probs.cumsum(1) < rng.random((len(scores), 1))).sum(1).clip(max=n - 1)
    rows = np.arange(len(scores))
    chosen_scores = scores[rows, index]
    top2 = np.sort(scores, axis=1)[:, -2:] if n > 1 else np.repeat(scores, 2, axis=1)
    metrics = {
        "best_of_n/chosen_score": float(chosen_scores.mean()),
        "best_of_n/gap_to_runner_up": float((top2[:, 1] - top2[:, 0]).mean()),
        "best_of_n/kl": best_of_n_kl(n),
        "best_of_n/n": float(n),
    }
    chosen = [list(candidates[i])[j] for i, j in enumerate(index)]
    return BestOfN(chosen, index, scores, metrics)
