"""Kill-and-resume checks shared by the test suite: a finished run cut back to checkpoint k, as a kill
right after that checkpoint leaves its directory, and the views of two runs that must be equal.

The contract these serve: a run killed after any checkpoint and resumed writes exactly what the
uninterrupted run wrote. Every logged value is a pure function of the config and the seed, so the
metrics rows must match to the bit, except the timing keys (``sps``, ``time``, ``time/*``,
``tokens_per_second``, :func:`rewardlab.core.run.is_timing_metric`): they measure the machine's wall
clock, which no two runs share. The final checkpoint holds every piece of declared state (networks,
optimizers, buffers, generators, env snapshots), so it must match too: state that has not yet
changed a logged value shows up there first.

Imported as ``from _resume import ...`` from any test folder: pytest's default (prepend) import mode
puts tests/, the folder of tests/conftest.py, on ``sys.path``.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import shutil
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab.core.run import checkpoints, is_timing_metric, load_checkpoint, read_metrics

#: result keys that differ between two equal runs: where the run directory is, and how long the
#: final evaluation took
RESULT_LOCAL_KEYS = ("checkpoint", "seconds")


def killed_after_checkpoint(run_dir: str | Path, k: int, *, copy_to: str | Path | None = None) -> Path:
    """``run_dir`` as a kill right after its ``k``-th checkpoint (1 = the first, -1 = the one before the
    last) leaves it: every later checkpoint gone, metrics.jsonl and the other logs still holding the
    rows written after it (Run.resume cuts them back). With ``copy_to`` the copy is cut and
    ``run_dir`` is kept as the uninterrupted reference."""
    cut = Path(run_dir)
    if copy_to is not None:
        cut = Path(shutil.copytree(cut, copy_to))
    kept = checkpoints(cut)
    n = k if k >= 0 else len(kept) + k
    assert 1 <= n < len(kept), (
        f"{cut} has {len(kept)} checkpoint(s): cutting after checkpoint {k} leaves none or all"
    )
    for p in kept[n:]:
        shutil.rmtree(p)
    return cut


def without_timing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Metrics rows without their timing keys (they measure the machine, not the algorithm)."""
    return [{k: v for k, v in row.items() if not is_timing_metric(k)} for row in rows]


def logged_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every row of ``run_dir``'s metrics.jsonl, without timing keys: what two equal runs share."""
    return without_timing(read_metrics(run_dir))


def comparable_result(result: dict[str, Any]) -> dict[str, Any]:
    """A Run's final result (its evaluation) without the run directory's checkpoint path, the
    evaluation's duration and timing keys."""
    return {k: v for k, v in result.items() if k not in RESULT_LOCAL_KEYS and not is_timing_metric(k)}


def final_state(run_dir: str | Path) -> dict[str, Any]:
    """The algorithm's state in ``run_dir``'s newest checkpoint."""
    return load_checkpoint(run_dir)[2]["algo"]


def assert_same_state(a: Any, b: Any, where: str = "state") -> None:
    """``a`` and ``b`` equal to the bit, walking dicts, lists and tuples: tensors and arrays by dtype,
    shape and value (NaN equal to NaN at the same place), generators by their state, dataclasses and
    objects that compare by identity attribute by attribute, everything else by ``==``; timing metrics
    stored in the state are left out, as in :func:`logged_metrics`. A pickled env snapshot
    is compared unpickled: two pickles of equal envs can differ in their bytes (which objects pickle
    memoised). An AssertionError names the first differing key."""
    _same(a, b, where, {})


def _stored_timing(key: Any) -> bool:
    """A timing metric kept in the state (a stored rollout's metrics are logged again when it is
    reused). A bare ``time`` is left in: in a state it can be an env's clock."""
    return isinstance(key, str) and key != "time" and is_timing_metric(key)


def _same(a: Any, b: Any, where: str, seen: dict[tuple[int, int], tuple[Any, Any]]) -> None:
    if (id(a), id(b)) in seen:  # a cycle (an env wrapper and its unwrapped env point at each other)
        return
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys differ: {sorted(map(str, a.keys() ^ b.keys()))}"
        # a MuJoCo snapshot's pickled MjData carries the wall-clock timers of mj_step; its
        # integration state is compared as the "physics" array beside it (core/envstate.py)
        skip = ("data",) if a.get("method") == "mujoco" else ()
        for key in a:
            if key not in skip and not _stored_timing(key):
                _same(a[key], b[key], f"{where}[{key!r}]", seen)
        return
    assert type(a) is type(b), f"{where}: {type(a).__name__} against {type(b).__name__}"
    if isinstance(a, list | tuple | deque):
        assert len(a) == len(b), f"{where}: length {len(a)} against {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]", seen)
    elif isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), (
            f"{where}: {a.dtype} {a.shape} against {b.dtype} {b.shape}"
        )
        nan = a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
        assert torch.equal(a, b) or (nan and torch.equal(a.nan_to_num(), b.nan_to_num())), (
            f"{where}: tensors differ"
        )
    elif isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), (
            f"{where}: {a.dtype} {a.shape} against {b.dtype} {b.shape}"
        )
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{where}: arrays differ"
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), f"{where}: {a!r} against {b!r}"
    elif isinstance(a, bytes) and a != b and a[:1] == b[:1] == pickle.PROTO:
        _same(pickle.loads(a), pickle.loads(b), f"{where} (unpickled)", seen)
    elif isinstance(a, np.random.Generator):
        _same(a.bit_generator.state, b.bit_generator.state, f"{where}.bit_generator.state", seen)
    elif dataclasses.is_dataclass(a) or (type(a).__eq__ is object.__eq__ and hasattr(a, "__dict__")):
        seen[id(a), id(b)] = (a, b)  # held, so that no later object takes over these ids
        _same(vars(a), vars(b), f"{where}.__dict__", seen)
    else:
        assert a == b, f"{where}: {_short(a)} against {_short(b)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"
