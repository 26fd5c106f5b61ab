"""One writer per run directory: an advisory ``flock`` on ``RUN_DIR/.lock``.

The kernel drops a ``flock`` when its process dies, however it dies (kill -9 included), so a lock
can never outlive its holder and no pid has to be trusted to decide staleness. The file itself
stays (unlinking a flocked file lets two processes lock two different inodes of one name); while
held it holds the holder's pid and host, and it is emptied on a clean release. A process that
acquires the lock and finds a pid in the file therefore knows the previous writer was killed, and
says so (:attr:`RunLock.stale_holder`).

``flock`` is local to one machine: two hosts writing one directory on NFS are not excluded.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from rewardlab.errors import RunLockedError

LOCK_NAME = ".lock"
#: lock descriptors this process holds. A forked child (an AsyncVectorEnv worker, a reward sandbox)
#: closes its copies at once: a flock lives while any copy is open, and a worker outliving a killed
#: trainer must not keep the trainer's directory locked.
_HELD: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in _HELD:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


class RunLock:
    """Hold with :meth:`acquire` / :meth:`release` (or ``with``)."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.fd: int | None = None
        #: "pid N on HOST since T" of a killed previous writer whose lock was taken over, else None
        self.stale_holder: str | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd) or "another process"
            os.close(fd)
            raise RunLockedError(
                f"run directory {str(self.path.parent)!r} is being written by {holder}; two writers would "
                f"mix their metrics. Wait for it to finish (or stop it), or choose another --out."
            ) from None
        except OSError:
            os.close(fd)
            raise
        previous = _read(fd)
        self.stale_holder = previous or None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode(), 0)
        except OSError:
            os.close(fd)
            raise
        self.fd = fd
        _HELD.add(fd)
        return self

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is None or fd not in _HELD:  # not held, or inherited by a fork: the parent's lock stays
            return
        _HELD.discard(fd)
        try:
            os.ftruncate(fd, 0)  # a clean exit: nobody has to be told a writer was killed
        except OSError:
            pass
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
