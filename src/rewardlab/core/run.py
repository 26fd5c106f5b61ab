"""The Run: one training run's directory, metrics, checkpoints, resume, NaN guard and evaluation.

Layout of a run directory::

    config.toml          the fully resolved config (algo + every field), enough to rerun
    metrics.jsonl        one JSON object per iteration: step, episode_return_mean, losses, sps, ...
    events.out.tfevents* TensorBoard events of the same metrics
    checkpoints/step_*/  state.pt (algorithm state_dict) + meta.json, each written atomically
    run.log              start / resume / stop events and warnings, one timestamped line each
    <name>.jsonl         records an algorithm emits besides metrics (e.g. samples.jsonl of an LM run)
    eval.json            {"mean_return", "std_return", "episodes", ...} after training
    curve.png            the learning curve

Resuming truncates every .jsonl file back to the newest checkpoint and continues from it; on CPU the
continued run writes exactly the values the uninterrupted run would have written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab import registry
from rewardlab.config import apply_overrides, build_config, load_toml, to_dict, to_toml
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.io import read_metrics, write_dir_atomic, write_json_atomic, write_text_atomic
from rewardlab.errors import ConfigError, NonFiniteError, RewardlabError

CHECKPOINT_RE = re.compile(r"^step_(\d+)$")
#: metrics that measure the machine, not the algorithm: they differ between identical runs
TIMING_KEYS = ("sps", "time", "tokens_per_second")


def is_timing_metric(key: str) -> bool:
    """True for wall-clock measurements (``sps``, ``time``, ``time/*``, ``tokens_per_second``), which a
    resumed run cannot reproduce; every other metric must match the uninterrupted run exactly."""
    return key in TIMING_KEYS or key.startswith("time/")


def default_run_dir(algo: str, env: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe_env = re.sub(r"[^A-Za-z0-9._-]+", "_", env or "noenv")
    return Path("runs") / f"{algo}-{safe_env}-{stamp}"


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temp directories of interrupted saves are ignored)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = CHECKPOINT_RE.match(p.name)
        if m and p.is_dir() and (p / "meta.json").is_file() and (p / "state.pt").is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def load_saved_config(run_dir: str | Path) -> tuple[str, Any]:
    """(algorithm name, config object) from a run directory's config.toml."""
    path = Path(run_dir) / "config.toml"
    if not path.is_file():
        raise RewardlabError(f"{str(run_dir)!r} is not a rewardlab run directory: {path} does not exist")
    data = load_toml(path)
    algo = data.pop("algo", None)
    if not algo:
        raise ConfigError(f"{path} has no 'algo' key; cannot tell which algorithm wrote it")
    cls = registry.get_algorithm(algo)
    return algo, apply_overrides(cls.config_class(), data, f"saved config {str(path)!r}")


@contextlib.contextmanager
def flush_denormal(enabled: bool):
    """Flush subnormal floats to zero inside the block only (the setting is process-wide and other
    code in the process, e.g. hypothesis, relies on IEEE subnormals), then restore torch's default."""
    if not enabled:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _prepare_process(config: Any) -> None:
    """Threads and every global RNG, before the algorithm is built."""
    torch.set_num_threads(max(1, config.num_threads))
    seed = config.seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Run:
    """Drives an :class:`Algorithm` inside a run directory. Create with :meth:`start` or :meth:`resume`."""

    def __init__(self, algo_name: str, config: Any, run_dir: Path, algo: Algorithm, *, console=None):
        self.algo_name, self.config, self.run_dir, self.algo = algo_name, config, run_dir, algo
        self.console = console
        self.metrics_path = run_dir / "metrics.jsonl"
        self.iteration = 0
        self.elapsed = 0.0  # training wall time in seconds, carried over on resume
        self.steps_at_start = 0
        self.next_checkpoint = config.checkpoint_interval()
        self._writer = None

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def start(cls, algo_name: str, config: Any, out: str | Path | None = None, *, console=None) -> Run:
        """A new run. Refuses a non-empty ``out`` directory rather than mixing two runs."""
        run_dir = Path(out) if out else default_run_dir(algo_name, config.env)
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise RewardlabError(
                f"output directory {str(run_dir)!r} is not empty; pass --resume {run_dir} to continue "
                f"that run, or choose another --out"
            )
        algo_cls = registry.get_algorithm(algo_name)
        _prepare_process(config)
        algo = algo_cls(config)  # may raise on bad config; nothing written yet
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.toml", to_toml(config, algo_name))
        run = cls(algo_name, config, run_dir, algo, console=console)
        run.log_event(f"started {algo_name} on {config.env!r}, seed {config.seed}, {config.num_threads} torch thread(s)")
        return run

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: dict[str, Any] | None = None, *, console=None) -> Run:
        """Continue ``run_dir`` from its newest checkpoint. ``overrides`` (from --set, --env, ...) must
        agree with the saved config; a contradiction is an error and nothing is written."""
        run_dir = Path(run_dir)
        algo_name, saved = load_saved_config(run_dir)
        if overrides:
            wanted = apply_overrides(saved, overrides, "the command line")
            diffs = {k: (v, getattr(wanted, k)) for k, v in to_dict(saved).items() if getattr(wanted, k) != v}
            if diffs:
                lines = ", ".join(f"{k}={new!r} (saved: {old!r})" for k, (old, new) in diffs.items())
                raise ConfigError(
                    f"--resume {run_dir}: the given config contradicts the saved one in "
                    f"{run_dir / 'config.toml'}: {lines}. Resume with the saved config (drop those "
                    f"options), or start a new run with another --out."
                )
        ckpts = checkpoints(run_dir)
        if not ckpts:
            raise RewardlabError(
                f"--resume {run_dir}: no complete checkpoint in {run_dir / 'checkpoints'}; "
                f"nothing to resume (start a new run instead)"
            )
        latest = ckpts[-1]
        meta = json.loads((latest / "meta.json").read_text())
        state = torch.load(latest / "state.pt", weights_only=False)
        _prepare_process(saved)
        algo = registry.get_algorithm(algo_name)(saved)
        algo.load_state_dict(state["algo"])
        run = cls(algo_name, saved, run_dir, algo, console=console)
        run.iteration = meta["iteration"]
        run.elapsed = meta["elapsed"]
        run.next_checkpoint = meta["next_checkpoint"]
        run.steps_at_start = algo.global_step
        # Forget what was logged after the checkpoint: the resumed run logs it again.
        for path in run_dir.glob("*.jsonl"):
            keep = meta["jsonl_lines"].get(path.name, 0)
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            if len(lines) != keep:
                write_text_atomic(path, "".join(lines[:keep]))
        run.log_event(f"resumed from {latest.name}")
        for stale in ("eval.json", "curve.png"):
            (run_dir / stale).unlink(missing_ok=True)
        return run

    # -- what a finished run holds (the Python API returns the Run) ----------------------------

    @property
    def dir(self) -> Path:
        return self.run_dir

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every row of metrics.jsonl so far, one dict per iteration."""
        return read_metrics(self.run_dir)

    @property
    def eval(self) -> dict[str, Any] | None:
        """eval.json (the final evaluation), or None before the run has finished."""
        path = self.run_dir / "eval.json"
        return json.loads(path.read_text()) if path.is_file() else None

    # -- logging --------------------------------------------------------------------------------

    @property
    def writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir), purge_step=self.algo.global_step or None)
        return self._writer

    def _log(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        step = record["step"]
        for key, value in record.items():
            if key not in ("step", "iteration") and isinstance(value, int | float):
                self.writer.add_scalar(key, value, step)

    def _append_jsonl(self, name: str, rows: list[dict[str, Any]]) -> None:
        with (self.run_dir / f"{name}.jsonl").open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)

    def log_event(self, message: str) -> None:
        """A timestamped line in run.log (warnings, start/resume/stop)."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with (self.run_dir / "run.log").open("a", encoding="utf-8") as f:
            f.write(f"{stamp} step={self.algo.global_step} {message}\n")

    def _jsonl_lines(self) -> dict[str, int]:
        """Line count of each .jsonl file, so a resume can cut them back to this checkpoint."""
        counts = {}
        for path in sorted(self.run_dir.glob("*.jsonl")):
            with path.open("rb") as f:
                counts[path.name] = sum(1 for _ in f)
        return counts

    # -- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        step = self.algo.global_step
        meta = {
            "global_step": step,
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            "next_checkpoint": self.next_checkpoint,
            "jsonl_lines": self._jsonl_lines(),
            "algo": self.algo_name,
        }
        state = {"algo": self.algo.state_dict()}

        def fill(tmp: Path) -> None:
            torch.save(state, tmp / "state.pt")
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))

        path = self.run_dir / "checkpoints" / f"step_{step:010d}"
        write_dir_atomic(path, fill)
        for leftover in (self.run_dir / "checkpoints").glob(".tmp-*"):  # from a save killed midway
            shutil.rmtree(leftover, ignore_errors=True)
        if self._writer is not None:
            self._writer.flush()
        return path

    # -- the loop -------------------------------------------------------------------------------

    def _check_finite(self, metrics: dict[str, float]) -> None:
        step = self.algo.global_step
        for key, value in metrics.items():
            if isinstance(value, float) and not math.isfinite(value):
                self._stop_non_finite(f"metric {key!r} became {value}", step)
        bad = self.algo.parameters_finite()
        if bad is not None:
            self._stop_non_finite(f"parameter {bad!r} became NaN/inf", step)

    def _stop_non_finite(self, what: str, step: int) -> None:
        ckpts = checkpoints(self.run_dir)
        last = f"the last good checkpoint is {ckpts[-1]}" if ckpts else "no checkpoint was saved before it"
        self.log_event(f"STOPPED {what}")
        raise NonFiniteError(
            f"{what} at step {step} (iteration {self.iteration}); training stopped and nothing after the "
            f"previous checkpoint was saved: {last}. Lower the learning rate or check the reward."
        )

    def train(self, *, progress: bool = True) -> dict[str, Any]:
        """Train to ``total_steps`` (:meth:`fit`), then evaluate and plot (:meth:`finish`)."""
        try:
            self.fit(progress=progress)
            return self.finish()
        finally:
            self.close()

    def fit(self, *, progress: bool = True) -> None:
        """The training loop: step, log, check for NaN/inf, checkpoint, until ``total_steps``."""
        from rewardlab.core.progress import TrainingProgress

        c, algo = self.config, self.algo
        start = time.perf_counter()
        elapsed_before = self.elapsed
        with (
            flush_denormal(getattr(c, "flush_denormal", False)),
            TrainingProgress(c.total_steps, algo.global_step, enabled=progress, console=self.console) as bar,
        ):
            while algo.global_step < c.total_steps:
                metrics = algo.step()
                self.iteration += 1
                self._check_finite(metrics)
                self.elapsed = elapsed_before + time.perf_counter() - start
                steps_this_session = algo.global_step - self.steps_at_start
                record = {"step": algo.global_step, "iteration": self.iteration, **metrics}
                record["sps"] = steps_this_session / max(self.elapsed - elapsed_before, 1e-9)
                record["time"] = self.elapsed
                self._log(record)
                for name, rows in algo.pop_records().items():
                    self._append_jsonl(name, rows)
                for warning in algo.pop_warnings():
                    self.log_event(f"WARNING {warning}")
                    bar.warn(f"step {algo.global_step}: {warning}")
                bar.update(algo.global_step, record, algo.curve_metric)
                if algo.global_step >= self.next_checkpoint or algo.global_step >= c.total_steps:
                    while self.next_checkpoint <= algo.global_step:
                        self.next_checkpoint += c.checkpoint_interval()
                    self.save_checkpoint()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.algo.close()

    def finish(self) -> dict[str, Any]:
        from rewardlab.core.plot import plot_runs

        result = evaluate_algorithm(self.algo, self.config)
        result = {"step": self.algo.global_step, **result}
        write_json_atomic(self.run_dir / "eval.json", result)
        if self.metrics_path.is_file():
            plot_runs([self.run_dir], self.run_dir / "curve.png", metric=self.algo.curve_metric)
        return result


def restore(run_dir: str | Path, **changes: Any) -> tuple[str, Any, Algorithm, Path]:
    """``(algorithm name, config, algorithm, checkpoint)``: the saved config (with ``changes`` such
    as ``num_threads``) rebuilt and the newest checkpoint loaded. Nothing in the run directory is
    changed. The caller closes the algorithm."""
    run_dir = Path(run_dir)
    algo_name, config = load_saved_config(run_dir)
    if changes:
        config = dataclasses.replace(config, **changes)
    ckpts = checkpoints(run_dir)
    if not ckpts:
        raise RewardlabError(f"{run_dir} has no complete checkpoint to evaluate")
    _prepare_process(config)
    algo = registry.get_algorithm(algo_name)(config)
    try:
        algo.load_state_dict(torch.load(ckpts[-1] / "state.pt", weights_only=False)["algo"])
    except BaseException:
        algo.close()
        raise
    return algo_name, config, algo, ckpts[-1]


def evaluate_algorithm(
    algo: Algorithm, config: Any, episodes: int | None = None, **lm: Any
) -> dict[str, Any]:
    """The evaluation of ``rewardlab eval``, ``rewardlab.load(run).evaluate()`` and the end of training:
    ``episodes`` greedy episodes (default ``eval_episodes``); for an LM run, ``lm`` holds ``split``,
    ``limit``, ``task`` and ``task_params`` of :meth:`LMAlgorithm.evaluate_task`."""
    lm = {k: v for k, v in lm.items() if v is not None}
    if lm:
        if not hasattr(algo, "evaluate_task"):
            raise RewardlabError(
                f"{', '.join(sorted(lm))}: only language-model runs take these; this {type(algo).__name__} "
                f"run is evaluated by episodes"
            )
        if episodes is not None and "limit" not in lm:
            lm["limit"] = episodes
        return algo.evaluate_task(**lm)
    n = episodes if episodes is not None else config.eval_episodes
    if n < 1:
        raise ConfigError(f"--episodes must be >= 1, got {n}")
    return algo.evaluate(n)


def evaluate_run(run_dir: str | Path, episodes: int | None = None, **lm: Any) -> dict[str, Any]:
    """Re-evaluate a saved run's newest checkpoint (nothing in the run directory is changed)."""
    changes = {"num_threads": lm.pop("num_threads")} if lm.get("num_threads") is not None else {}
    lm.pop("num_threads", None)
    _, config, algo, ckpt = restore(run_dir, **changes)
    try:
        return {"step": algo.global_step, "checkpoint": str(ckpt), **evaluate_algorithm(algo, config, episodes, **lm)}
    finally:
        algo.close()


def new_config(algo_name: str, *, files=(), sets=(), cli: dict[str, Any] | None = None) -> Any:
    """Resolve an algorithm's config from defaults, TOML files, CLI flags and --set overrides."""
    cls = registry.get_algorithm(algo_name)
    return build_config(cls.config_class, files=list(files), sets=list(sets), cli=cli)
