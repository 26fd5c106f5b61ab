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
from rewardlab.core.run import Run, new_config
from rewardlab.rl.common import evaluate_policy

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EVAL_EPISODES = 20


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--total-steps", type=int, help="override the example's budget (for a quick look)")
    return p.parse_args()


def _timed(train: Callable[[], int], excluded: dict[str, float] | None = None) -> dict:
    """Wall and CPU seconds of one training call (CPU time is steadier on a shared machine), less
    the ``excluded`` seconds (learning-curve evaluations made during the call)."""
    wall, cpu = time.perf_counter(), time.process_time()
    steps = train()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if excluded:
        wall, cpu = wall - excluded["wall"], cpu - excluded["cpu"]
    return {"sps": steps / wall, "cpu_sps": steps / cpu, "time": wall}


class CurvePoints:
    """Deterministic evaluations at given env steps during training, kept out of the timing.

    ``maybe(step, policy)`` evaluates once for each point that ``step`` has reached (the same
    EVAL_EPISODES fresh seeded episodes as the final evaluation); the evaluations draw from no
    training random stream, so the run itself is unchanged."""

    def __init__(self, env: str, seed: int, points: list[int] | None):
        self.env, self.seed, self.pending = env, seed, sorted(points or [])
        self.curve: dict[int, float] = {}
        self.excluded = {"wall": 0.0, "cpu": 0.0}

    def maybe(self, step: int, policy: Callable[[np.ndarray], np.ndarray]) -> None:
        if not self.pending or step < self.pending[0]:
            return
        wall, cpu = time.perf_counter(), time.process_time()
        while self.pending and step >= self.pending[0]:
            self.pending.pop(0)
        ev = evaluate_policy(self.env, policy, EVAL_EPISODES, seed=10_000 + self.seed)
        self.curve[step] = ev["mean_return"]
        self.excluded["wall"] += time.perf_counter() - wall
        self.excluded["cpu"] += time.process_time() - cpu


def run_rewardlab(
    algo: str, example: str, seed: int, total_steps: int | None, curve: list[int] | None = None
):
    """Train through the full Run loop (metrics.jsonl, TensorBoard, checkpoints), as users do.
    ``curve``: env steps at which to evaluate too (the Run's iterations end at multiples of
    ``log_every``, so a point is evaluated at the first iteration end at or after it)."""
    cli = {"seed": seed, "num_threads": 1, "total_steps": total_steps}
    config = new_config(algo, files=[EXAMPLES / example], cli={k: v for k, v in cli.items() if v is not None})
    points = CurvePoints(config.env, seed, curve)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run.start(algo, config, Path(tmp) / "run")
        algo_step = run.algo.step

        def step() -> dict[str, float]:
            metrics = algo_step()
            points.maybe(run.algo.global_step, run.algo.predict)
            return metrics

        run.algo.step = step

        def train() -> int:
            run.fit(progress=False)
            return run.algo.global_step

        result = _timed(train, points.excluded)
        ev = evaluate_policy(config.env, run.algo.predict, EVAL_EPISODES, seed=10_000 + seed)
        run.close()
    out = {**result, "return": ev["mean_return"]}
    return {**out, "curve": points.curve} if curve else out


def run_peer(make_model: Callable[[dict, int], object], algo: str, example: str, seed: int, total_steps: int | None,
             curve: list[int] | None = None):  # fmt: skip
    """Train an SB3 model built by ``make_model(config, seed)``; ``curve`` as in run_rewardlab (SB3
    calls the callback after each env step, before that step's update)."""
    config = to_dict(new_config(algo, files=[EXAMPLES / example]))
    if total_steps:
        config["total_steps"] = total_steps
    model = make_model(config, seed)
    # The peer runs with torch's defaults: undo the process-wide settings rewardlab's Run made
    # (flush-denormal; the thread count is 1 for both).
    torch.set_flush_denormal(False)

    def policy(obs: np.ndarray) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    points = CurvePoints(config["env"], seed, curve)
    callback = None
    if curve:
        from stable_baselines3.common.callbacks import BaseCallback

        class Curve(BaseCallback):
            def _on_step(self) -> bool:
                points.maybe(self.num_timesteps, policy)
                return True

        callback = Curve()

    def train() -> int:
        model.learn(total_timesteps=config["total_steps"], callback=callback)
        return model.num_timesteps

    result = _timed(train, points.excluded)
    ev = evaluate_policy(config["env"], policy, EVAL_EPISODES, seed=10_000 + seed)
    out = {**result, "return": ev["mean_return"]}
    return {**out, "curve": points.curve} if curve else out


def compare(
    title: str, peer_name: str, seeds: list[int], ours: Callable[[int], dict], peer: Callable[[int], dict]
):
    """Alternate rewardlab and the peer seed by seed (same process, one torch thread) and print a table."""
    torch.set_num_threads(1)
    console = Console()
    rows = []
    for seed in seeds:
        for name, fn in (("rewardlab", ours), (peer_name, peer)):
            r = fn(seed)
            rows.append((name, seed, r))
            console.print(f"  {name:>10} seed {seed}: {r['sps']:,.0f} steps/s ({r['cpu_sps']:,.0f} per CPU-second), "
                          f"{r['time']:.1f} s, eval return {r['return']:.1f}")  # fmt: skip
    table = Table(title=title)
    for col in ("library", "median steps/s", "steps per CPU-s", "median train time (s)", "eval return per seed",
                "eval return mean +- std"):  # fmt: skip
        table.add_column(col)
    summary = {}
    for name in ("rewardlab", peer_name):
        rs = [r for n, _, r in rows if n == name]
        sps = statistics.median(r["sps"] for r in rs)
        cpu_sps = statistics.median(r["cpu_sps"] for r in rs)
        summary[name] = (sps, cpu_sps)
        returns = [r["return"] for r in rs]
        table.add_row(
            name, f"{sps:,.0f}", f"{cpu_sps:,.0f}", f"{statistics.median(r['time'] for r in rs):.1f}",
            ", ".join(f"{x:.0f}" for x in returns), f"{np.mean(returns):.1f} +- {np.std(returns):.1f}",
        )  # fmt: skip
    console.print(table)
    ours, theirs = summary["rewardlab"], summary[peer_name]
    console.print(
        f"speed ratio rewardlab / {peer_name}: [bold]{ours[0] / theirs[0]:.2f}x[/] wall-clock, "
        f"{ours[1] / theirs[1]:.2f}x per CPU-second (medians over seeds {seeds}, one torch thread each)"
    )
