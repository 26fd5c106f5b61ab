"""``rewardlab sweep``: independent runs over seeds and a grid of config values, then one plot.

Each run is an ordinary ``rewardlab train`` process with its own run directory, so a sweep's runs are
exactly what the same commands typed by hand would give (and each resumes the ordinary way). Locally
they run one after the other; with ``backend = "ray"`` each is a Ray task (one logical CPU each) on
the local or a joined cluster, and results come back in plan order whatever finishes first.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rewardlab.config import load_toml
from rewardlab.core import ray_backend
from rewardlab.errors import ConfigError, RewardlabError


@dataclass(frozen=True)
class SweepRun:
    algo: str
    config_file: str
    seed: int
    sets: tuple[tuple[str, str], ...]  # (key, value) pairs for --set, in grid order
    out: str

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "rewardlab.cli", "train", self.algo, "--config", self.config_file]
        cmd += ["--seed", str(self.seed), "--out", self.out, "--no-progress"]
        for key, value in self.sets:
            cmd += ["--set", f"{key}={value}"]
        return cmd


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` -> 0..9, ``"0,3,5"`` -> [0, 3, 5]; ranges and lists combine (``"0-2,7"``)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected a range like 0-9 or a list like 0,3,5") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: expected distinct seeds >= 0, e.g. 0-9 or 0,3,5")
    return seeds


def _split_top_level(value: str) -> list[str]:
    """Split on commas outside brackets and quotes: ``1e-4,3e-4`` -> 2 values, ``[64, 64]`` -> 1."""
    out, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(value):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
    out.append(value[start:].strip())
    return [v for v in out if v]


def expand_grid(items: list[str]) -> list[tuple[tuple[str, str], ...]]:
    """``["lr=1e-4,3e-4", "gamma=0.99"]`` -> the cartesian product of every key's values."""
    axes: list[list[tuple[str, str]]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--set expects key=value1,value2,..., got {item!r}")
        axes.append([(key.strip(), v) for v in _split_top_level(value)])
    return [tuple(combo) for combo in itertools.product(*axes)]


def plan(
    config_file: str | Path,
    *,
    seeds: list[int],
    grid: list[str] = (),
    algo: str | None = None,
    out: str | Path | None = None,
) -> list[SweepRun]:
    """One SweepRun per (grid point, seed), each with its own run directory under ``out``."""
    config_file = Path(config_file).resolve()
    data = load_toml(config_file)
    algo = algo or data.get("algo")
    if not algo:
        raise ConfigError(
            f'config file {str(config_file)!r} names no algorithm: add algo = "ppo" (or another) to it, '
            "or pass --algo"
        )
    if out is None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        out = Path("sweeps") / f"{algo}-{config_file.stem}-{stamp}"
    out = Path(out).resolve()
    runs = []
    for point in expand_grid(list(grid)) or [()]:
        name = ",".join(f"{k}={v}" for k, v in point) or "base"
        for seed in seeds:
            runs.append(SweepRun(algo, str(config_file), seed, point, str(out / _safe(name) / f"seed{seed}")))
    return runs


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "=,.-_+" else "_" for ch in name)


def run_one(run: SweepRun) -> dict[str, Any]:
    """Run one training process; its result with the eval it wrote (or the tail of its error)."""
    start = time.perf_counter()
    proc = subprocess.run(run.command(), capture_output=True, text=True, env=dict(os.environ))
    result: dict[str, Any] = {
        **asdict(run),
        "returncode": proc.returncode,
        "seconds": time.perf_counter() - start,
    }
    eval_file = Path(run.out) / "eval.json"
    if proc.returncode == 0 and eval_file.is_file():
        result["eval"] = json.loads(eval_file.read_text())
    else:
        result["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return result


def run_sweep(
    runs: list[SweepRun],
    *,
    backend: str = "local",
    ray_address: str = "",
    ray_num_cpus: int = 0,
    timeout_s: float = 7 * 24 * 3600.0,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every SweepRun, in plan order locally or as Ray tasks; results in plan order."""
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend {backend!r} is not one of 'local', 'ray'")
    existing = [r.out for r in runs if Path(r.out).exists() and any(Path(r.out).iterdir())]
    if existing:
        raise RewardlabError(f"sweep output {existing[0]!r} already holds a run; choose another --out")
    results: list[dict[str, Any]] = []
    if backend == "local":
        for run in runs:
            results.append(run_one(run))
            if on_result:
                on_result(results[-1])
        return results
    ray = ray_backend.acquire(ray_address, ray_num_cpus, needed_cpus=1.0, what="rewardlab sweep")
    try:
        task = ray.remote(num_cpus=1)(run_one)
        refs = [task.remote(run) for run in runs]
        for run, ref in zip(runs, refs):
            results.append(ray_backend.get(ref, timeout_s, f"sweep run {run.out!r}"))
            if on_result:
                on_result(results[-1])
    finally:
        ray_backend.release()
    return results


def summarize(results: list[dict[str, Any]], out: str | Path) -> Path:
    """Write ``sweep.json`` (every run's settings, eval and errors) and ``sweep.png`` (mean and band per
    grid point, as ``rewardlab plot``) into ``out``."""
    from rewardlab.core.io import write_text_atomic
    from rewardlab.core.plot import plot_runs

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "sweep.json", json.dumps(results, indent=1) + "\n")
    done = [r["out"] for r in results if r["returncode"] == 0]
    if done:
        plot_runs(done, out / "sweep.png", title=f"sweep: {out.name}")
    return out
