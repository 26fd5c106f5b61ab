"""Shared parts of the rewardlab-vs-Stable-Baselines3 benchmarks: timing, evaluation, the table."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from rewardlab.config import to_dict
from rewardlab.core.run import Run, new_config, read_metrics
from rewardlab.rl.common import evaluate_policy

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EVAL_EPISODES = 20


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--total-steps", type=int, help="override the example's budget (for a quick look)")
    return p.parse_args()


def run_rewardlab(algo: str, example: str, seed: int, total_steps: int | None) -> dict:
    """Train through the full Run (metrics, TensorBoard, checkpoints); time = training loop only."""
    cli = {"seed": seed, "num_threads": 1, "total_steps": total_steps}
    config = new_config(algo, files=[EXAMPLES / example], cli={k: v for k, v in cli.items() if v is not None})
    with tempfile.TemporaryDirectory() as tmp:
        run = Run.start(algo, config, Path(tmp) / "run")
        run.train(progress=False)
        train_time = read_metrics(run.run_dir)[-1]["time"]
        steps = run.algo.global_step
        policy = run.algo.predict
        ev = evaluate_policy(config.env, policy, EVAL_EPISODES, seed=10_000 + seed)
    return {"sps": steps / train_time, "time": train_time, "return": ev["mean_return"]}


def run_peer(make_model: Callable[[dict, int], object], algo: str, example: str, seed: int, total_steps: int | None):
    config = to_dict(new_config(algo, files=[EXAMPLES / example]))
    if total_steps:
        config["total_steps"] = total_steps
    model = make_model(config, seed)
    start = time.perf_counter()
    model.learn(total_timesteps=config["total_steps"])
    train_time = time.perf_counter() - start
    steps = model.num_timesteps

    def policy(obs: np.ndarray) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    ev = evaluate_policy(config["env"], policy, EVAL_EPISODES, seed=10_000 + seed)
    return {"sps": steps / train_time, "time": train_time, "return": ev["mean_return"]}


def compare(title: str, peer_name: str, seeds: list[int], ours: Callable[[int], dict], peer: Callable[[int], dict]):
    """Alternate rewardlab and the peer seed by seed (same process, one torch thread) and print a table."""
    torch.set_num_threads(1)
    console = Console()
    rows = []
    for seed in seeds:
        for name, fn in (("rewardlab", ours), (peer_name, peer)):
            r = fn(seed)
            rows.append((name, seed, r))
            console.print(f"  {name:>10} seed {seed}: {r['sps']:,.0f} steps/s, {r['time']:.1f} s, eval return {r['return']:.1f}")
    table = Table(title=title)
    for col in ("library", "median steps/s", "median train time (s)", "eval return per seed", "eval return mean +- std"):
        table.add_column(col)
    summary = {}
    for name in ("rewardlab", peer_name):
        rs = [r for n, _, r in rows if n == name]
        sps = statistics.median(r["sps"] for r in rs)
        summary[name] = sps
        returns = [r["return"] for r in rs]
        table.add_row(
            name, f"{sps:,.0f}", f"{statistics.median(r['time'] for r in rs):.1f}",
            ", ".join(f"{x:.0f}" for x in returns), f"{np.mean(returns):.1f} +- {np.std(returns):.1f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"speed ratio rewardlab / {peer_name}: [bold]{summary['rewardlab'] / summary[peer_name]:.2f}x[/] "
                  f"(median steps/s over seeds {seeds}, one torch thread each)")  # fmt: skip
