"""``rewardlab eval RUN --best-of N --reward R``: best-of-N selection of an LM policy's samples.

For each held-out prompt the policy samples N completions (temperature sampling, seeded so two
calls agree); the selection reward R (a rule reward, an import path, or a trained reward model's
directory) picks one (:func:`rewardlab.rewards.selection.best_of_n`), and the *task's own reward*
scores the pick. Reported beside it, on the same samples: a uniformly random pick (what N = 1
gives) and the oracle pick (the best of N by the task's reward, the ceiling any selector can
reach), so the selector's value is read off one table: ``accuracy`` against ``random_accuracy``
and ``oracle_accuracy``. This is how DeformPAM and ARMAP-B use a reward model at inference.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.llm.evaluate import score


def evaluate_best_of_n(
    policy: Any,
    task: Any,
    select_reward: Any,
    n: int,
    *,
    true_reward: Any = None,
    split: str = "test",
    limit: int | None = None,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    """Best-of-``n`` on ``task``'s ``split`` (see the module docstring); ``true_reward`` defaults to
    the task's reward."""
    from rewardlab.rewards.base import Sample
    from rewardlab.rewards.selection import best_of_n

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"--best-of: {n!r} is out of range; valid values are integers >= 1")
    true_reward = true_reward if true_reward is not None else task.reward()
    examples = list(task.examples(split))
    if limit is not None and limit > 0:
        examples = examples[:limit]
    if not examples:
        raise RewardlabError(f"task {getattr(task, 'name', task)!r} split {split!r} has no examples")
    full_marks = getattr(true_reward, "maximum", 1.0)
    picked, randoms, oracles, chosen_scores, gaps = [], [], [], [], []
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the samples depend on the seed, not on what ran before
        for i in range(0, len(examples), batch_size):
            chunk = examples[i : i + batch_size]
            ids, mask = policy.encode_prompts([ex.prompt for ex in chunk])
            batch = policy.generate(
                ids,
                mask,
                num_generations=n,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
            )
            texts = policy.decode(batch)
            groups = [
                [
                    Sample(
                        prompt=ex.prompt,
                        completion=texts[k * n + j],
                        reference=ex.reference,
                        info=dict(ex.info),
                    )
                    for j in range(n)
                ]
                for k, ex in enumerate(chunk)
            ]
            choice = best_of_n(groups, lambda s: score(select_reward, s).total, n)
            true = np.asarray(score(true_reward, [s for g in groups for s in g]).total).reshape(len(chunk), n)
            rows = np.arange(len(chunk))
            picked.extend(true[rows, choice.index])
            randoms.extend(true[rows, rng.integers(n, size=len(chunk))])
            oracles.extend(true.max(1))
            chosen_scores.append(choice.metrics["best_of_n/chosen_score"] * len(chunk))
            gaps.append(choice.metrics["best_of_n/gap_to_runner_up"] * len(chunk))
    picked_a, random_a, oracle_a = np.asarray(picked), np.asarray(randoms), np.asarray(oracles)

    def acc(values: np.ndarray) -> float:
        return float(np.mean(values >= full_marks)) if math.isfinite(full_marks) else float("nan")

    return {
        "mean_return": float(picked_a.mean()),
        "std_return": float(picked_a.std()),
        "episodes": len(picked_a),
        "accuracy": acc(picked_a),
        "random_return": float(random_a.mean()),
        "random_accuracy": acc(random_a),
        "oracle_return": float(oracle_a.mean()),
        "oracle_accuracy": acc(oracle_a),
        "best_of_n/n": float(n),
        "best_of_n/chosen_score": float(np.sum(chosen_scores) / len(picked_a)),
        "best_of_n/gap_to_runner_up": float(np.sum(gaps) / len(picked_a)),
        "best_of_n/kl": math.log(n) - (n - 1) / n,
        "select_reward": getattr(select_reward, "name", type(select_reward).__name__),
        "true_reward": getattr(true_reward, "name", type(true_reward).__name__),
        "split": split,
        "task": getattr(task, "name", str(task)),
        "seconds": time.perf_counter() - start,
    }
