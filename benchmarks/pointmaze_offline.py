"""BC, TD3+BC and IQL on a PointMaze dataset made here: the waypoint controller with N(0, 0.5^2)
action noise (Minari's pointmaze recipe), written as a Minari file and read back by each learner.
Normalised score: 0 = uniform random actions, 100 = the noise-free controller (ref_episodes each).
CORL's D4RL maze2d tables put IQL / TD3+BC above BC; that data (goals re-drawn within an episode,
another simulator) differs from this, so the ordering is context, not a target.

    python benchmarks/pointmaze_offline.py --maze medium --dataset-steps 30000 --steps 10000 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rewardlab.core.run import Run, new_config
from rewardlab.offline.generate import generate


def train(algo: str, path: Path, steps: int, seed: int, episodes: int) -> float:
    sets = [
        f"dataset={path}",
        f"total_steps={steps}",
        "log_every=1000",
        "eval_every=0",
        f"eval_episodes={episodes}",
    ]
    config = new_config(algo, sets=sets, cli={"seed": seed, "num_threads": 1})
    with tempfile.TemporaryDirectory() as tmp:
        return float(Run.start(algo, config, Path(tmp) / "run").train(progress=False)["normalized_score"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maze", choices=("umaze", "medium"), default="medium")
    p.add_argument("--algos", nargs="+", default=["bc", "td3-bc", "iql"])
    p.add_argument("--dataset-steps", type=int, default=30_000)
    p.add_argument("--noise", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=10_000, help="gradient steps of each offline learner")
    p.add_argument("--ref-episodes", type=int, default=10)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(1)
    env = f"pointmaze-{args.maze}"
    root = Path(tempfile.mkdtemp(prefix="pointmaze-minari-"))
    start = time.perf_counter()
    path = generate(env, "policy", args.dataset_steps, f"rewardlab/{env}/noisy-v0", policy_run="builtin",
                    noise=args.noise, ref_episodes=args.ref_episodes, root=root)  # fmt: skip
    print(f"dataset {path}: {args.dataset_steps} steps in {time.perf_counter() - start:.0f} s", flush=True)
    scores: dict[str, list[float]] = {a: [] for a in args.algos}
    for seed in args.seeds:
        for algo in args.algos:
            scores[algo].append(train(algo, path, args.steps, seed, args.eval_episodes))
            print(f"seed {seed} {algo}: {scores[algo][-1]:.1f}", flush=True)
    summary = {}
    for algo, v in scores.items():
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        summary[algo] = {"mean": statistics.mean(v), "std": sd, "scores": v}
        print(f"{env} {algo}: {statistics.mean(v):.1f} +- {sd:.1f} (normalised, seeds {args.seeds})")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "scores": summary}, indent=2))


if __name__ == "__main__":
    main()
