"""Atomic file and directory writes: a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def write_dir_atomic(path: str | Path, fill: Callable[[Path], None]) -> None:
    """Create directory ``path`` by filling a temp directory beside it and renaming it into place.

    If ``fill`` raises (or the process dies), ``path`` does not appear; the temp directory is removed
    (or, after a hard kill, left as ``.tmp-*``, which readers ignore and the next save cleans up)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
    try:
        fill(tmp)
        for child in tmp.iterdir():
            with open(child, "rb") as f:
                os.fsync(f.fileno())
        if path.exists():
            shutil.rmtree(path)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)


def read_jsonl(path: str | Path, what: str = "data file") -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSONL file of objects.

    A missing file, a line that is not JSON or not an object is a RewardlabError naming the file
    and line number (``what`` names the file's role in the message, e.g. "input file")."""
    from rewardlab.errors import RewardlabError

    path = Path(path).expanduser()
    if not path.is_file():
        raise RewardlabError(f"{what} {str(path)!r} does not exist")
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise RewardlabError(f"{path}:{number}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise RewardlabError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
            rows.append((number, obj))
    return rows


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a run directory's metrics.jsonl (empty before the first iteration)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
