"""SRPO's self-referential reward vs binary success under GRPO on a sparse reach task.

Iterations until an iteration's rollouts succeed >= 90 % (rewardlab.llm.grpo_control.train_reach),
per seed, for each reward. Run:

    PYTHONPATH=src python benchmarks/srpo_reach.py --size 5 --horizon 12 --lr 0.05 --seeds 5

Numbers and the reading of them: docs/lm_optimisers_group.md.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from rewardlab.llm.grpo_control import train_reach
from rewardlab.rewards.base import reward
from rewardlab.rewards.srpo import SelfReferentialReward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=5)
    p.add_argument("--horizon", type=int, default=12)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--groups", type=int, default=8)
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--max-iterations", type=int, default=300)
    p.add_argument("--tabular", action="store_true", help="a table of logits per cell (no generalisation)")
    args = p.parse_args()
    torch.set_num_threads(1)
    arms = {
        "binary": reward(lambda s: float(s.info["success"]), name="binary"),
        "srpo": SelfReferentialReward(),
    }
    results = {}
    for name, r in arms.items():
        its = [
            train_reach(
                r, size=args.size, horizon=args.horizon, learning_rate=args.lr, groups=args.groups,
                num_generations=args.generations, max_iterations=args.max_iterations, seed=seed, tabular=args.tabular,
            ).iterations_to_target
            for seed in range(args.seeds)
        ]  # fmt: skip
        results[name] = its
        done = [i for i in its if i is not None]
        median = statistics.median(done) if done else None
        mean = statistics.mean(done) if done else None
        print(f"{name:7s} iterations to 90 % per seed {its}  median {median}  mean {mean}", flush=True)
    # the same seed draws the same rollouts until the first group with a success: compare per seed
    pairs = [(b, s) for b, s in zip(results["binary"], results["srpo"]) if b is not None and s is not None]
    fewer = sum(s < b for b, s in pairs)
    more = sum(s > b for b, s in pairs)
    print(
        f"per seed: srpo needs fewer iterations on {fewer}, more on {more}, as many on {len(pairs) - fewer - more}"
    )


if __name__ == "__main__":
    main()
