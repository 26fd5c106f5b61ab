"""The Run: one training run's directory, metrics, checkpoints, resume, NaN guard and evaluation.

Layout of a run directory::

    config.toml          the fully resolved config (algo + every field, data paths made absolute)
    metrics.jsonl        one JSON object per iteration: step, episode_return_mean, losses, sps, ...
    events.out.tfevents* TensorBoard events of the same metrics
    checkpoints/step_*/  state.pt (algorithm state_dict) + meta.json (with state.pt's size and
                         sha256), each checkpoint written atomically
    run.log              start / resume / stop events and warnings, one timestamped line each
    <name>.jsonl         records an algorithm emits besides metrics (e.g. samples.jsonl of an LM run)
    eval.json            {"mean_return", "std_return", "episodes", ...} after training
    curve.png            the learning curve
    .lock                held (flock) by the one process writing the directory; see core/lock.py
    .owned.json          the .jsonl files the Run writes, the only ones resume may cut back

Resuming cuts the Run's own .jsonl files back to the bytes the checkpoint recorded (any other file
in the directory is left alone) and continues from it; on CPU the continued run writes exactly the
values the uninterrupted run would have written. What is guaranteed, and the test proving each
guarantee, is listed in docs/guarantees.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import random
import re
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab import registry
from rewardlab.config import (
    apply_overrides,
    build_config,
    check_config,
    load_toml,
    resolve_paths,
    to_dict,
    to_toml,
)
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.io import (
    HashingWriter,
    append_lines,
    make_dirs,
    read_metrics,
    write_dir_atomic,
    write_error,
    write_json_atomic,
    write_text_atomic,
)
from rewardlab.core.lock import LOCK_NAME, RunLock
from rewardlab.errors import (
    ConfigError,
    CorruptCheckpointError,
    NonFiniteError,
    RewardlabError,
    RunWriteError,
)

CHECKPOINT_RE = re.compile(r"^step_(\d+)$")
#: metrics that measure the machine, not the algorithm: they differ between identical runs
TIMING_KEYS = ("sps", "time", "tokens_per_second")
OWNED_NAME = ".owned.json"
#: the only config key a resume may change: a finished run can be given a larger budget
EXTENDABLE = ("total_steps",)
#: and where it runs: a run written on a GPU continues on a machine without one (``--set device=cpu``)
MOVABLE = ("device",)


def is_timing_metric(key: str) -> bool:
    """True for wall-clock measurements (``sps``, ``time``, ``time/*``, ``tokens_per_second``), which a
    resumed run cannot reproduce; every other metric must match the uninterrupted run exactly."""
    return key in TIMING_KEYS or key.startswith("time/")


def default_run_dir(algo: str, env: str, seed: int = 0) -> Path:
    """``runs/<algo>-<env>-s<seed>-<UTC time to the microsecond>``; :func:`create_default_run_dir`
    adds a counter if that name is taken, so parallel runs never share a directory."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    safe_env = re.sub(r"[^A-Za-z0-9._-]+", "_", env or "noenv")
    return Path("runs") / f"{algo}-{safe_env}-s{seed}-{stamp}"


def create_default_run_dir(algo: str, env: str, seed: int) -> Path:
    """Create and return a fresh default run directory; ``mkdir`` without ``exist_ok`` is the arbiter
    between processes that picked the same name."""
    base = default_run_dir(algo, env, seed)
    make_dirs(base.parent)
    for n in range(1, 1000):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as e:
            raise write_error(candidate, e) from None
    raise RewardlabError(f"could not find a free run directory name beside {str(base)!r}; pass --out")


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


def verify_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, state) of one checkpoint, after checking state.pt against the size and sha256 recorded
    when it was saved. Anything wrong is a CorruptCheckpointError naming the file and the defect."""
    import hashlib

    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CorruptCheckpointError(f"{path / 'meta.json'} is unreadable ({e})") from None
    state_path = path / "state.pt"
    try:
        data = state_path.read_bytes()
    except OSError as e:
        raise CorruptCheckpointError(f"{state_path} is unreadable ({e.strerror or e})") from None
    record = meta.get("files", {}).get("state.pt")
    if record is not None:
        if len(data) != record["bytes"]:
            raise CorruptCheckpointError(
                f"{state_path} has {len(data)} bytes but {record['bytes']} were written (truncated or overwritten)"
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest != record["sha256"]:
            raise CorruptCheckpointError(
                f"{state_path}: its sha256 {digest[:16]}... differs from the {record['sha256'][:16]}... "
                f"recorded when it was saved (the file was changed or damaged)"
            )
    try:
        # onto the CPU: a checkpoint written on a GPU resumes on a CPU-only machine; each tensor then
        # moves to the device of the one it replaces (rewardlab.core.state, docs/gpu.md)
        state = torch.load(io.BytesIO(data), weights_only=False, map_location="cpu")
    except Exception as e:  # a checkpoint from before checksums, damaged: torch's own error
        raise CorruptCheckpointError(f"{state_path} cannot be read by torch.load ({e})") from None
    return meta, state


def load_checkpoint(
    run_dir: str | Path, warn=None, *, set_aside: bool = False
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(path, meta, state) of the newest checkpoint that verifies. A corrupt newer one is named in a
    warning (``warn(message)``, default: stderr) and skipped; none usable is a CorruptCheckpointError.
    ``set_aside`` (a resume, which owns the directory): rename skipped ones to ``corrupt-step_*``, kept
    for inspection but no longer taken for the newest checkpoint."""
    run_dir = Path(run_dir)
    ckpts = checkpoints(run_dir)
    if not ckpts:
        raise RewardlabError(
            f"{str(run_dir)!r} has no complete checkpoint in {run_dir / 'checkpoints'} "
            f"(training stopped before the first one; start a new run instead)"
        )
    bad: list[tuple[Path, str]] = []
    for path in reversed(ckpts):
        try:
            meta, state = verify_checkpoint(path)
        except CorruptCheckpointError as e:
            bad.append((path, str(e)))
            continue
        if bad:
            moved = ""
            if set_aside:
                for p, _ in bad:
                    p.rename(p.with_name(f"corrupt-{p.name}"))
                moved = " (renamed to corrupt-step_*)"
            reasons = "; ".join(reason for _, reason in bad)
            (warn or _stderr_warning)(
                f"skipped {len(bad)} corrupt checkpoint(s){moved}: {reasons}; using {path.name}, the newest good one"
            )
        return path, meta, state
    reasons = "; ".join(reason for _, reason in bad)
    raise CorruptCheckpointError(f"no checkpoint of {str(run_dir)!r} is intact: {reasons}")


def _quiet_tensorboard_write_errors(args) -> None:
    """A failed write in TensorBoard's writer thread is re-raised in the training thread, where the Run
    turns it into a RunWriteError naming the file; the thread's own traceback would only be noise."""
    if isinstance(args.exc_value, OSError) and type(args.thread).__name__ == "_AsyncWriterThread":
        return
    _previous_thread_hook(args)


_previous_thread_hook = threading.excepthook
threading.excepthook = _quiet_tensorboard_write_errors


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


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


def _is_empty_run_dir(run_dir: Path) -> bool:
    return run_dir.is_dir() and all(p.name == LOCK_NAME for p in run_dir.iterdir())


def _refuse_non_empty(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise RewardlabError(f"--out {str(run_dir)!r} is a file, not a directory; choose another --out")
    if run_dir.exists() and not _is_empty_run_dir(run_dir):
        raise RewardlabError(
            f"output directory {str(run_dir)!r} is not empty; pass --resume {run_dir} to continue "
            f"that run, or choose another --out"
        )


def _read_owned(run_dir: Path) -> set[str]:
    """The .jsonl files the Run writes in ``run_dir``: metrics.jsonl and the recorded record files."""
    try:
        names = json.loads((run_dir / OWNED_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        names = []
    return {"metrics.jsonl", *names}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _planned_cuts(run_dir: Path, meta: dict[str, Any], owned: set[str], ckpt: Path) -> dict[Path, int]:
    """File -> size to cut it back to for resuming from ``ckpt``. A file shorter than the checkpoint
    recorded (deleted or truncated by hand) is an error naming it: resuming would leave a gap."""
    recorded = meta.get("jsonl_bytes")
    if recorded is None:  # a checkpoint from before byte offsets: line counts
        recorded = {}
        for name, keep in meta.get("jsonl_lines", {}).items():
            path = run_dir / name
            text = path.read_bytes() if path.is_file() else b""
            recorded[name] = len(b"".join(text.splitlines(keepends=True)[:keep]))
    cuts = {}
    for name in sorted(owned | set(recorded)):
        path, keep = run_dir / name, recorded.get(name, 0)
        size = _size(path)
        if size < keep:
            state = "was deleted" if not path.exists() else f"has {size} bytes"
            raise RewardlabError(
                f"--resume {run_dir}: {path} {state}, but {ckpt.name} recorded {keep} bytes of it; it was "
                f"changed outside rewardlab and resuming would leave a gap in it. Restore the file, or start "
                f"a new run."
            )
        if size != keep:
            cuts[path] = keep
    return cuts


def _lock(run_dir: Path) -> RunLock:
    try:
        return RunLock(run_dir).acquire()
    except OSError as e:
        raise write_error(run_dir / LOCK_NAME, e) from None


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
    """Drives an :class:`Algorithm` inside a run directory. Create with :meth:`start` or :meth:`resume`;
    the directory stays locked against other writers until :meth:`close` (``train`` closes)."""

    def __init__(
        self,
        algo_name: str,
        config: Any,
        run_dir: Path,
        algo: Algorithm,
        *,
        console=None,
        lock: RunLock | None = None,
    ):
        self.algo_name, self.config, self.run_dir, self.algo = algo_name, config, run_dir, algo
        self.console = console
        self.lock = lock
        self.metrics_path = run_dir / "metrics.jsonl"
        self.iteration = 0
        self.elapsed = 0.0  # training wall time in seconds, carried over on resume
        self.steps_at_start = 0
        self.next_checkpoint = config.checkpoint_interval()
        self._writer = None
        self.owned = _read_owned(run_dir)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def start(cls, algo_name: str, config: Any, out: str | Path | None = None, *, console=None) -> Run:
        """A new run in ``out`` (default: a fresh ``runs/<algo>-<env>-s<seed>-<time>``). Refuses a
        non-empty ``out`` rather than mixing two runs, and a directory another process is writing."""
        config = check_config(resolve_paths(config))
        run_dir = Path(out) if out else None
        if run_dir is not None:
            _refuse_non_empty(run_dir)
        algo_cls = registry.get_algorithm(algo_name)
        _prepare_process(config)
        algo = algo_cls(config)  # may raise on bad config; nothing written yet
        lock = None
        created = run_dir is None or not run_dir.exists()
        try:
            if run_dir is None:
                run_dir = create_default_run_dir(algo_name, config.env, config.seed)
            else:
                make_dirs(run_dir)
            lock = _lock(run_dir)
            _refuse_non_empty(run_dir)  # another process may have started a run here meanwhile
            write_text_atomic(run_dir / "config.toml", to_toml(config, algo_name))
            run = cls(algo_name, config, run_dir, algo, console=console, lock=lock)
            run.log_event(
                f"started {algo_name} on {config.env!r}, seed {config.seed}, {config.num_threads} torch thread(s)"
            )
        except BaseException:
            if lock is not None:
                lock.release()
                if created and _is_empty_run_dir(run_dir):  # leave nothing behind a failed start
                    shutil.rmtree(run_dir, ignore_errors=True)
            algo.close()
            raise
        return run

    @classmethod
    def resume(
        cls, run_dir: str | Path, overrides: dict[str, Any] | None = None, *, out: str | Path | None = None,
        console=None,
    ) -> Run:  # fmt: skip
        """Continue ``run_dir`` from its newest intact checkpoint. ``overrides`` (from --set, --env, ...)
        must agree with the saved config, except ``total_steps``, which may grow to extend a run; a
        contradiction is an error and nothing is written. ``out`` other than ``run_dir`` is refused:
        a run continues in its own directory."""
        run_dir = Path(run_dir)
        if out is not None and Path(out).resolve() != run_dir.resolve():
            raise ConfigError(
                f"--out {str(out)!r} cannot be combined with --resume {str(run_dir)!r}: a resumed run "
                f"continues in its own directory. To continue a copy instead, `cp -r {run_dir} {out}` "
                f"and resume that."
            )
        algo_name, saved = load_saved_config(run_dir)
        wanted = saved
        if overrides:
            wanted = resolve_paths(apply_overrides(saved, overrides, "the command line"))
            diffs = {
                k: (v, getattr(wanted, k))
                for k, v in to_dict(saved).items()
                if getattr(wanted, k) != v and k not in EXTENDABLE + MOVABLE
            }
            if diffs:
                lines = ", ".join(f"{k}={new!r} (saved: {old!r})" for k, (old, new) in diffs.items())
                raise ConfigError(
                    f"--resume {run_dir}: the given config contradicts the saved one in "
                    f"{run_dir / 'config.toml'}: {lines}. Only {', '.join(EXTENDABLE)} may change on resume "
                    "(and device, to move a run); "
                    f"drop those options, or start a new run with another --out."
                )
        check_config(wanted)
        lock = _lock(run_dir)
        algo = None
        try:
            warnings: list[str] = []
            latest, meta, state = load_checkpoint(run_dir, warn=warnings.append, set_aside=True)
            step = meta["global_step"]
            if wanted.total_steps != saved.total_steps and wanted.total_steps < step:
                raise ConfigError(
                    f"--resume {run_dir}: total_steps={wanted.total_steps} is below the step the run has "
                    f"reached ({step}, {latest.name}); valid values are >= {step}"
                )
            cuts = _planned_cuts(run_dir, meta, _read_owned(run_dir), latest)  # checks before writing
            _prepare_process(wanted)
            algo = registry.get_algorithm(algo_name)(wanted)
            algo.load_state_dict(state["algo"])
            if any(getattr(wanted, k) != getattr(saved, k) for k in EXTENDABLE + MOVABLE):
                write_text_atomic(run_dir / "config.toml", to_toml(wanted, algo_name))
            for path, size in cuts.items():  # forget what was logged after the checkpoint: it is logged again
                try:
                    os.truncate(path, size)
                except OSError as e:
                    raise write_error(path, e) from None
            for stale in ("eval.json", "curve.png"):
                (run_dir / stale).unlink(missing_ok=True)
            run = cls(algo_name, wanted, run_dir, algo, console=console, lock=lock)
        except BaseException:
            lock.release()
            if algo is not None:
                algo.close()
            raise
        run.iteration = meta["iteration"]
        run.elapsed = meta["elapsed"]
        run.next_checkpoint = meta["next_checkpoint"]
        run.steps_at_start = algo.global_step
        if lock.stale_holder:
            run.warn(
                f"the previous writer ({lock.stale_holder}) ended without releasing the directory (killed?); took over its lock"
            )
        for w in warnings:
            run.warn(w)
        for key in EXTENDABLE + MOVABLE:
            if getattr(wanted, key) != getattr(saved, key):
                run.log_event(f"{key} changed from {getattr(saved, key)} to {getattr(wanted, key)}")
        run.log_event(f"resumed from {latest.name}")
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
        append_lines(self.metrics_path, [json.dumps(record)])
        step = record["step"]
        with self._events_errors():
            for key, value in record.items():
                if key not in ("step", "iteration") and isinstance(value, int | float):
                    self.writer.add_scalar(key, value, step)

    @contextlib.contextmanager
    def _events_errors(self):
        """TensorBoard writes from a thread and re-raises its OSError on the next call: name the file.
        The events file mirrors metrics.jsonl; after such a failure it may end in a partial record,
        which TensorBoard's reader drops (a resumed run writes a new events file)."""
        try:
            yield
        except OSError as e:
            raise write_error(
                self.run_dir / "events.out.tfevents.*",
                e,
                left="The TensorBoard file may end in a partial record, which TensorBoard skips; "
                "metrics.jsonl holds every complete row",
            ) from None

    def _append_jsonl(self, name: str, rows: list[dict[str, Any]]) -> None:
        filename = f"{name}.jsonl"
        if filename not in self.owned:  # recorded before the first row, so a resume knows to cut it
            self.owned.add(filename)
            write_json_atomic(self.run_dir / OWNED_NAME, sorted(self.owned))
        append_lines(self.run_dir / filename, [json.dumps(row) for row in rows])

    def log_event(self, message: str) -> None:
        """A timestamped line in run.log (warnings, start/resume/stop)."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        append_lines(self.run_dir / "run.log", [f"{stamp} step={self.algo.global_step} {message}"])

    def warn(self, message: str) -> None:
        """A warning in run.log and on the console (stderr without one)."""
        self.log_event(f"WARNING {message}")
        if self.console is not None:
            self.console.print("[yellow]warning:[/]", end=" ")
            self.console.print(message, markup=False, highlight=False)
        else:
            _stderr_warning(message)

    def _jsonl_bytes(self) -> dict[str, int]:
        """Size of each .jsonl file the Run writes, so a resume can cut them back to this checkpoint."""
        return {name: _size(self.run_dir / name) for name in sorted(self.owned)}

    def _intact(self) -> str:
        ckpts = checkpoints(self.run_dir)
        if not ckpts:
            return "no checkpoint had been saved yet"
        return (
            f"the last good checkpoint {ckpts[-1]} is intact: free space, then continue with "
            f"`rewardlab train {self.algo_name} --resume {self.run_dir}`"
        )

    # -- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        step = self.algo.global_step
        meta = {
            "global_step": step,
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            "next_checkpoint": self.next_checkpoint,
            "jsonl_bytes": self._jsonl_bytes(),
            "algo": self.algo_name,
        }
        state = {"algo": self.algo.state_dict()}
        path = self.run_dir / "checkpoints" / f"step_{step:010d}"

        def fill(tmp: Path) -> None:
            try:
                with open(tmp / "state.pt", "wb") as f:
                    out = HashingWriter(f)
                    try:
                        torch.save(state, out)
                    except Exception:
                        if out.error is None:
                            raise
                        raise out.error from None  # torch reports it as RuntimeError "unexpected pos"
                meta["files"] = {"state.pt": {"bytes": out.size, "sha256": out.hexdigest()}}
            except OSError as e:
                raise write_error(path / "state.pt", e) from None
            try:
                (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
            except OSError as e:
                raise write_error(path / "meta.json", e) from None

        write_dir_atomic(path, fill)
        for leftover in (self.run_dir / "checkpoints").glob(".tmp-*"):  # from a save killed midway
            shutil.rmtree(leftover, ignore_errors=True)
        if self._writer is not None:
            with self._events_errors():
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
        """The training loop: step, log, check for NaN/inf, checkpoint, until ``total_steps``. A write
        that fails (full disk) stops it with a RunWriteError naming the file and the last good checkpoint."""
        try:
            self._fit(progress)
        except RunWriteError as e:
            raise RunWriteError(
                f"{e} Training stopped at step {self.algo.global_step}; {self._intact()}."
            ) from None

    def _fit(self, progress: bool) -> None:
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
        """Release the environments, the TensorBoard writer and the directory lock."""
        try:
            if self._writer is not None:
                with contextlib.suppress(OSError):
                    self._writer.close()
                self._writer = None
            self.algo.close()
        finally:
            if self.lock is not None:
                self.lock.release()
                self.lock = None

    def finish(self) -> dict[str, Any]:
        from rewardlab.core.plot import plot_runs

        result = evaluate_algorithm(self.algo, self.config)
        result = {"step": self.algo.global_step, **result}
        try:
            write_json_atomic(self.run_dir / "eval.json", result)
            if self.metrics_path.is_file():
                curve = self.run_dir / "curve.png"
                try:
                    plot_runs([self.run_dir], curve, metric=self.algo.curve_metric)
                except OSError as e:
                    curve.unlink(missing_ok=True)
                    raise write_error(curve, e) from None
        except RunWriteError as e:
            raise RunWriteError(f"{e} Training itself finished; {self._intact()}.") from None
        return result


def restore(run_dir: str | Path, *, warn=None, **changes: Any) -> tuple[str, Any, Algorithm, Path]:
    """``(algorithm name, config, algorithm, checkpoint)``: the saved config (with ``changes`` such
    as ``num_threads``) rebuilt and the newest checkpoint loaded. Nothing in the run directory is
    changed. The caller closes the algorithm."""
    run_dir = Path(run_dir)
    algo_name, config = load_saved_config(run_dir)
    if changes:
        config = dataclasses.replace(config, **changes)
    path, _, state = load_checkpoint(run_dir, warn=warn)  # the newest one whose checksum verifies
    _prepare_process(config)
    algo = registry.get_algorithm(algo_name)(config)
    try:
        algo.load_state_dict(state["algo"])
    except BaseException:
        algo.close()
        raise
    return algo_name, config, algo, path


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
        raise ConfigError(f"--episodes: {n} is out of range; valid values are >= 1")
    return algo.evaluate(n)


def evaluate_run(run_dir: str | Path, episodes: int | None = None, *, warn=None, **lm: Any) -> dict[str, Any]:
    """Re-evaluate a saved run's newest intact checkpoint (nothing in the run directory is changed)."""
    changes = {"num_threads": lm.pop("num_threads")} if lm.get("num_threads") is not None else {}
    lm.pop("num_threads", None)
    _, config, algo, ckpt = restore(run_dir, warn=warn, **changes)
    try:
        return {"step": algo.global_step, "checkpoint": str(ckpt), **evaluate_algorithm(algo, config, episodes, **lm)}
    finally:
        algo.close()


def new_config(algo_name: str, *, files=(), sets=(), cli: dict[str, Any] | None = None) -> Any:
    """Resolve an algorithm's config from defaults, TOML files, CLI flags and --set overrides."""
    cls = registry.get_algorithm(algo_name)
    return build_config(cls.config_class, files=list(files), sets=list(sets), cli=cli)
