"""Offline RL, rewardlab vs d3rlpy 2.8.1 on the same Minari file, same defaults, same gradient steps.

Issue 13's protocol: a Pendulum-v1 dataset (100k steps of the ``mixed`` split: each episode mixes
the built-in swing-up controller with uniform-random actions at its own rate, a medium-replay-like
spread of returns), 50k gradient steps, 5 seeds, d3rlpy's default configs, 1 torch thread. Targets:
rewardlab's mean normalised score within one pooled standard deviation of d3rlpy's, at >= 1.5x its
gradient steps per second.

d3rlpy pins gymnasium==1.0.0, so it lives in its own virtualenv and runs as a subprocess
(benchmarks/_d3rlpy_child.py):

    python3 -m venv .venv-d3rlpy
    .venv-d3rlpy/bin/pip install torch==2.13.0
    .venv-d3rlpy/bin/pip install --no-deps d3rlpy==2.8.1
    .venv-d3rlpy/bin/pip install tqdm h5py "gym>=0.26.0" click typing-extensions structlog colorama \\
        dataclasses-json gymnasium==1.0.0 scikit-learn

    python benchmarks/offline_vs_d3rlpy.py                        # the full protocol: hours on 2 cores
    python benchmarks/offline_vs_d3rlpy.py --steps 2000 --seeds 0 --algos bc iql   # a quick look
    python benchmarks/offline_vs_d3rlpy.py --env CartPole-v1 --algos bc          # discrete BC
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from rewardlab.core.run import Run, new_config
from rewardlab.offline.dataset import OfflineDataset
from rewardlab.offline.experts import EXPERTS
from rewardlab.offline.generate import collect, reference_scores
from rewardlab.rl.common import evaluate_policy

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "_d3rlpy_child.py"


def make_dataset(env_id: str, steps: int, root: Path) -> Path:
    name = f"bench/{env_id.split('-')[0].lower()}/mixed{steps}-v0"
    path = root / name
    if not path.exists():
        data = collect(env_id, steps, EXPERTS[env_id], "mixed", seed=0)
        data.ref_min_score, data.ref_max_score = reference_scores(env_id, EXPERTS[env_id], 100)
        data.to_minari(name, root=root, description="benchmarks/offline_vs_d3rlpy.py")
    return path


def run_rewardlab(algo: str, dataset: Path, seed: int, steps: int, episodes: int) -> dict:
    sets = [f"dataset={dataset}", f"total_steps={steps}", f"log_every={min(steps, 1000)}", "eval_every=0"]
    config = new_config(algo, sets=sets, cli={"seed": seed, "num_threads": 1})
    with tempfile.TemporaryDirectory() as tmp:
        run = Run.start(algo, config, Path(tmp) / "run")
        # time the gradient steps only: the loop's one evaluation at the last step is subtracted
        wall, cpu = time.perf_counter(), time.process_time()
        run.fit(progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        eval_wall = time.perf_counter()
        ev = evaluate_policy(config.env, run.algo.predict, episodes, seed=10_000 + seed)
        eval_wall = time.perf_counter() - eval_wall
        run.close()
    wall = max(wall - eval_wall * config.eval_episodes / episodes, 1e-9)
    return {"return": ev["mean_return"], "sps": steps / wall, "cpu_sps": steps / cpu}


def run_d3rlpy(python: str, algo: str, dataset: Path, seed: int, steps: int, episodes: int) -> dict:
    out = subprocess.run(
        [python, str(CHILD), str(dataset), algo, str(seed), str(steps), str(episodes)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"d3rlpy child failed ({algo}, seed {seed}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="Pendulum-v1", choices=sorted(EXPERTS))
    p.add_argument("--algos", nargs="+", default=["bc", "td3-bc", "iql", "cql"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=50_000, help="gradient steps per run")
    p.add_argument("--dataset-steps", type=int, default=100_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--d3rlpy-python", default=str(ROOT / ".venv-d3rlpy" / "bin" / "python"))
    p.add_argument("--root", default=str(ROOT / "runs" / "minari"), help="where the dataset is written")
    p.add_argument("--json", help="also write the raw results here")
    args = p.parse_args()
    torch.set_num_threads(1)
    if not Path(args.d3rlpy_python).exists():
        raise SystemExit(
            f"{args.d3rlpy_python} does not exist: make d3rlpy's virtualenv first (see the docstring)"
        )

    dataset = make_dataset(args.env, args.dataset_steps, Path(args.root))
    data = OfflineDataset.load(dataset)
    console = Console()
    console.print(f"dataset {dataset}: {data.num_episodes} episodes, {data.num_steps} steps, ref "
                  f"{data.ref_min_score:.1f} .. {data.ref_max_score:.1f}")  # fmt: skip
    rows, raw = [], {}
    for algo in args.algos:
        ours, theirs = [], []
        for seed in args.seeds:
            ours.append(run_rewardlab(algo, dataset, seed, args.steps, args.eval_episodes))
            theirs.append(run_d3rlpy(args.d3rlpy_python, algo, dataset, seed, args.steps, args.eval_episodes))
            console.print(f"{algo} seed {seed}: rewardlab {ours[-1]}, d3rlpy {theirs[-1]}")
        raw[algo] = {"rewardlab": ours, "d3rlpy": theirs}
        score = lambda rs: [100 * float(data.normalized_score(r["return"])) for r in rs]  # noqa: E731
        a, b = score(ours), score(theirs)
        sd = lambda x: statistics.stdev(x) if len(x) > 1 else 0.0  # noqa: E731
        pooled = float(np.sqrt((sd(a) ** 2 + sd(b) ** 2) / 2))
        speed = statistics.mean(r["sps"] for r in ours) / statistics.mean(r["sps"] for r in theirs)
        cpu_speed = statistics.mean(r["cpu_sps"] for r in ours) / statistics.mean(
            r["cpu_sps"] for r in theirs
        )
        rows.append((algo, a, b, pooled, speed, cpu_speed))

    table = Table(title=f"offline RL on {args.env} mixed ({args.steps} gradient steps, seeds {args.seeds})")
    for col in (
        "algo",
        "rewardlab score",
        "d3rlpy score",
        "within 1 pooled std",
        "speed (wall)",
        "speed (CPU)",
    ):
        table.add_column(col)
    for algo, a, b, pooled, speed, cpu_speed in rows:
        fmt = lambda x: f"{statistics.mean(x):.1f} +- {statistics.stdev(x) if len(x) > 1 else 0:.1f}"  # noqa: E731
        ok = abs(statistics.mean(a) - statistics.mean(b)) <= pooled
        table.add_row(algo, fmt(a), fmt(b), "yes" if ok else "NO", f"{speed:.2f}x", f"{cpu_speed:.2f}x")
    console.print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    sys.exit(main())
