"""Atomic file and directory writes: a reader sees the old content or the new, never half of either.

Every write into a run directory goes through this module so that a failure (a full disk, a file
size limit, a permission) surfaces as one :class:`~rewardlab.errors.RunWriteError` naming the file,
and leaves no partial file behind. Files are created with the user's umask (``tempfile`` alone would
make them 0600).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rewardlab.errors import RunWriteError

#: errno values that mean "no room": the disk, a quota, or RLIMIT_FSIZE (ulimit -f)
NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_error(
    path: str | Path, error: OSError, *, left: str = "Nothing partial was left behind"
) -> RunWriteError:
    """A RunWriteError naming ``path`` and the cause; ``left`` says what state the file was left in."""
    reason = error.strerror or str(error)
    if error.errno in NO_SPACE:
        reason += " (the disk, a quota or the file size limit `ulimit -f` is full)"
    return RunWriteError(f"could not write {str(path)!r}: {reason}. {left}.")


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


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise write_error(path, e) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def append_lines(path: str | Path, lines: Iterable[str]) -> None:
    """Append whole lines to ``path``; if the write fails the file is cut back to its old length, so a
    reader never sees half a line (except after a hard kill, which resume cuts back the same way)."""
    path = Path(path)
    data = "".join(line if line.endswith("\n") else line + "\n" for line in lines).encode("utf-8")
    if not data:
        return
    try:
        with path.open("ab") as f:
            before = f.tell()
            try:
                f.write(data)
                f.flush()
            except OSError:
                f.truncate(before)  # shrinking needs no free space
                raise
    except OSError as e:
        raise write_error(path, e) from None


def make_dirs(path: str | Path) -> None:
    """``mkdir -p`` whose failure (a file in the way, no permission, no space) names the directory."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunWriteError(f"cannot create directory {str(path)!r}: a file of that name exists") from None
    except NotADirectoryError:
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
        where = f": {str(blocker)!r} is a file, not a directory" if blocker else ""
        raise RunWriteError(f"cannot create directory {str(path)!r}{where}") from None
    except OSError as e:
        raise RunWriteError(f"cannot create directory {str(path)!r}: {e.strerror or e}") from None


class HashingWriter:
    """A binary file wrapper that counts and sha256-hashes what passes through, and remembers the
    OSError of a failed write (torch.save reports those as a bare RuntimeError "unexpected pos")."""

    def __init__(self, f):
        self.f, self.size, self.error = f, 0, None
        self._hash = hashlib.sha256()

    def write(self, data) -> int:
        try:
            n = self.f.write(data)
        except OSError as e:
            self.error = e
            raise
        self._hash.update(data)
        self.size += len(data)
        return n

    def flush(self) -> None:
        try:
            self.f.flush()
        except OSError as e:
            self.error = e
            raise

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def file_digest(path: str | Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def write_dir_atomic(path: str | Path, fill: Callable[[Path], None]) -> None:
    """Create directory ``path`` by filling a temp directory beside it and renaming it into place.

    If ``fill`` raises (or the process dies), ``path`` does not appear; the temp directory is removed
    (or, after a hard kill, left as ``.tmp-*``, which readers ignore and the next save cleans up).
    An OSError becomes a RunWriteError naming ``path``."""
    path = Path(path)
    tmp = None
    try:
        make_dirs(path.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
        os.chmod(tmp, 0o777 & ~current_umask())
        fill(tmp)
        for child in tmp.iterdir():
            with open(child, "rb") as f:
                os.fsync(f.fileno())
        if path.exists():
            shutil.rmtree(path)
        os.rename(tmp, path)
    except OSError as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(path, e) from None
    except BaseException:
        if tmp is not None:
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
                raise RewardlabError(
                    f"{path}:{number}: not valid JSON ({e.msg} at column {e.colno})"
                ) from None
            if not isinstance(obj, dict):
                raise RewardlabError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
            rows.append((number, obj))
    return rows


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a run directory's metrics.jsonl (empty before the first iteration; a last line cut
    short by a hard kill is left out)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    complete = path.read_text(encoding="utf-8").split("\n")[:-1]  # after the last newline: "" or half a line
    return [json.loads(line) for line in complete if line.strip()]
