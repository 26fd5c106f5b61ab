"""Offline RL, rewardlab vs d3rlpy 2.8.1 on the same Minari file, same defaults, same gradient steps.

Issue 13's protocol: a Pendulum-v1 dataset of about 100k transitions, 50k gradient steps, 5 seeds,
d3rlpy's default configs, 1 torch thread. Targets: rewardlab's mean normalised score within one
pooled standard deviation of d3rlpy's, at >= 1.5x its gradient steps per second.

Datasets (``--split``; each written once under ``--root`` and reused):

- ``mixed``: each episode mixes the built-in controller with uniform-random actions at its own rate
  epsilon ~ U(0, 1): returns spread from random to expert, a medium-replay stand-in.
- ``expert``: the built-in controller alone (``policy`` split): BC on it should reach the expert.
- ``replay``: the replay buffer of an off-policy run (``--replay-run RUN_DIR``, e.g. SAC on
  Pendulum or DQN on CartPole): everything the learner saw, from random to its final policy.

Every finished run (one algorithm, one library, one seed) is appended to ``--out`` as one JSON line
at once, so a long protocol can be split into pieces and an interrupted one keeps what finished;
runs already in the file are skipped. ``--table FILE...`` prints the comparison (markdown) from
such files without running anything.

d3rlpy pins gymnasium==1.0.0, so it lives in its own virtualenv and runs as a subprocess
(benchmarks/_d3rlpy_child.py); ``make d3rlpy`` builds it (.venv-d3rlpy).

    python benchmarks/offline_vs_d3rlpy.py --algos iql --seeds 0 1 2 3 4 --out runs/bench/offline.jsonl
    python benchmarks/offline_vs_d3rlpy.py --algos bc --split expert --out runs/bench/offline.jsonl
    python benchmarks/offline_vs_d3rlpy.py --env CartPole-v1 --split replay --replay-run runs/dqn \\
        --algos discrete-cql bc --out runs/bench/offline.jsonl
    python benchmarks/offline_vs_d3rlpy.py --table runs/bench/offline.jsonl

Speed is gradient steps per second of the training loop alone (the final evaluation is timed
separately and subtracted), wall-clock and CPU; under a loaded machine the CPU figure is the
comparable one.
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

from rewardlab.core.run import Run, new_config
from rewardlab.offline.dataset import OfflineDataset
from rewardlab.offline.experts import EXPERTS
from rewardlab.offline.generate import collect, load_replay, reference_scores

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "_d3rlpy_child.py"
# rewardlab's CLI name -> the child's (d3rlpy has one CQL name per action kind, picked by the space)
CHILD_NAMES = {"discrete-cql": "cql"}


def make_dataset(env_id: str, split: str, steps: int, root: Path, replay_run: str | None) -> Path:
    name = f"bench/{env_id.split('-')[0].lower()}/{split}{steps}-v0"
    path = root / name
    if not path.exists():
        expert = EXPERTS[env_id]
        if split == "replay":
            if replay_run is None:
                raise SystemExit("--split replay needs --replay-run RUN_DIR (an off-policy run's directory)")
            from rewardlab.offline.generate import load_policy

            data = load_replay(replay_run, env_id, steps)
            # ref_max: the learner's final policy, as `rewardlab data generate --split replay`
            data.ref_min_score, data.ref_max_score = reference_scores(
                env_id, load_policy(replay_run, env_id), 100
            )
        else:
            data = collect(env_id, steps, expert, "policy" if split == "expert" else split, seed=0)
            data.ref_min_score, data.ref_max_score = reference_scores(env_id, expert, 100)
        data.to_minari(name, root=root, description=f"benchmarks/offline_vs_d3rlpy.py, split {split}")
    return path


def run_rewardlab(algo: str, dataset: Path, seed: int, steps: int, episodes: int) -> dict:
    sets = [f"dataset={dataset}", f"total_steps={steps}", f"log_every={min(steps, 1000)}",
            "eval_every=0", f"eval_episodes={episodes}"]  # fmt: skip
    config = new_config(algo, sets=sets, cli={"seed": seed, "num_threads": 1})
    with tempfile.TemporaryDirectory() as tmp:
        run = Run.start(algo, config, Path(tmp) / "run")
        wall, cpu = time.perf_counter(), time.process_time()
        run.fit(progress=False)  # the gradient steps, then one evaluation of `episodes` episodes
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        # the same evaluation again, timed, to subtract it: speed counts gradient steps only
        eval_wall, eval_cpu = time.perf_counter(), time.process_time()
        ev = run.algo.evaluate(episodes)
        eval_wall, eval_cpu = time.perf_counter() - eval_wall, time.process_time() - eval_cpu
        run.close()
    wall, cpu = max(wall - eval_wall, 1e-9), max(cpu - eval_cpu, 1e-9)
    return {"return": ev["mean_return"], "sps": steps / wall, "cpu_sps": steps / cpu}


def run_d3rlpy(python: str, algo: str, dataset: Path, seed: int, steps: int, episodes: int) -> dict:
    out = subprocess.run(
        [python, str(CHILD), str(dataset), CHILD_NAMES.get(algo, algo), str(seed), str(steps), str(episodes)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"d3rlpy child failed ({algo}, seed {seed}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _key(r: dict) -> tuple:
    return (r["env"], r["split"], r["dataset_steps"], r["algo"], r["library"], r["steps"], r["seed"])


def read_results(paths: list[str]) -> list[dict]:
    rows = []
    for p in paths:
        if Path(p).exists():
            rows += [json.loads(line) for line in Path(p).read_text().splitlines() if line.strip()]
    return rows


def table(rows: list[dict]) -> str:
    """One markdown row per (env, split, algo, steps): both libraries' mean +- std normalised score,
    whether they are within one pooled std, and the speed ratios (means over seeds)."""
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for r in rows:
        g = groups.setdefault((r["env"], r["split"], r["dataset_steps"], r["algo"], r["steps"]), {})
        g.setdefault(r["library"], []).append(r)
    sd = lambda x: statistics.stdev(x) if len(x) > 1 else 0.0  # noqa: E731
    lines = [
        "| env / split (transitions) | algo | gradient steps x seeds | rewardlab score | d3rlpy score "
        "| within 1 pooled std | steps/s rewardlab / d3rlpy (CPU) | speed (CPU) | speed (wall) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (env, split, n, algo, steps), libs in sorted(groups.items()):
        ours, theirs = libs.get("rewardlab", []), libs.get("d3rlpy", [])
        a = [r["score"] for r in sorted(ours, key=lambda r: r["seed"])]
        b = [r["score"] for r in sorted(theirs, key=lambda r: r["seed"])]
        fmt = lambda x: f"{statistics.mean(x):.1f} +- {sd(x):.1f}" if x else "-"  # noqa: E731
        within, cpu, wall, sps = "-", "-", "-", "-"
        if a and b:
            pooled = float(np.sqrt((sd(a) ** 2 + sd(b) ** 2) / 2))
            gap = abs(statistics.mean(a) - statistics.mean(b))
            within = f"{'yes' if gap <= pooled else 'NO'} ({gap:.1f} vs {pooled:.1f})"
            ours_cpu = statistics.mean(r["cpu_sps"] for r in ours)
            theirs_cpu = statistics.mean(r["cpu_sps"] for r in theirs)
            sps = f"{ours_cpu:.1f} / {theirs_cpu:.1f}"
            cpu = f"{ours_cpu / theirs_cpu:.2f}x"
            wall = (
                f"{statistics.mean(r['sps'] for r in ours) / statistics.mean(r['sps'] for r in theirs):.2f}x"
            )
        seeds = max(len(a), len(b))
        lines.append(f"| {env} {split} ({n}) | {algo} | {steps} x {seeds} | {fmt(a)} | {fmt(b)} | {within} "
                     f"| {sps} | {cpu} | {wall} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="Pendulum-v1", choices=sorted(EXPERTS))
    p.add_argument("--split", default="mixed", choices=["mixed", "expert", "replay"])
    p.add_argument("--replay-run", help="--split replay: the off-policy run whose buffer is the dataset")
    p.add_argument("--algos", nargs="+", default=["bc", "td3-bc", "iql", "cql"])
    p.add_argument("--libraries", nargs="+", default=["rewardlab", "d3rlpy"], choices=["rewardlab", "d3rlpy"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=50_000, help="gradient steps per run")
    p.add_argument("--dataset-steps", type=int, default=100_000, help="transitions in the dataset")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--d3rlpy-python", default=str(ROOT / ".venv-d3rlpy" / "bin" / "python"))
    p.add_argument("--root", default=str(ROOT / "runs" / "minari"), help="where datasets are written")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench" / "offline_vs_d3rlpy.jsonl"),
                   help="JSON lines, one per finished run, appended; runs already there are skipped")  # fmt: skip
    p.add_argument("--table", nargs="+", metavar="JSONL", help="print the comparison of these files and exit")
    args = p.parse_args()
    if args.table:
        print(table(read_results(args.table)))
        return
    torch.set_num_threads(1)
    if "d3rlpy" in args.libraries and not Path(args.d3rlpy_python).exists():
        raise SystemExit(f"{args.d3rlpy_python} does not exist: `make d3rlpy` builds d3rlpy's virtualenv")

    dataset = make_dataset(args.env, args.split, args.dataset_steps, Path(args.root), args.replay_run)
    data = OfflineDataset.load(dataset)
    print(f"dataset {dataset}: {data.num_episodes} episodes, {data.num_steps} steps, ref "
          f"{data.ref_min_score:.1f} .. {data.ref_max_score:.1f}", flush=True)  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(r) for r in read_results([str(out)])}
    for algo in args.algos:
        for seed in args.seeds:
            for library in args.libraries:
                row = {"env": args.env, "split": args.split, "dataset_steps": args.dataset_steps, "algo": algo,
                       "library": library, "steps": args.steps, "seed": seed}  # fmt: skip
                if _key(row) in done:
                    continue
                if library == "rewardlab":
                    result = run_rewardlab(algo, dataset, seed, args.steps, args.eval_episodes)
                else:
                    result = run_d3rlpy(
                        args.d3rlpy_python, algo, dataset, seed, args.steps, args.eval_episodes
                    )
                row.update(result, score=100 * float(data.normalized_score(result["return"])),
                           eval_episodes=args.eval_episodes, load=os.getloadavg()[0])  # fmt: skip
                if args.split == "replay":  # which learner's buffer: the split's name does not say
                    row["replay_run"] = args.replay_run
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    print(table([r for r in read_results([str(out)]) if r["env"] == args.env and r["split"] == args.split]))


if __name__ == "__main__":
    sys.exit(main())
