"""One process drives a run directory at a time: `RunLock` holds an exclusive flock on `RUN_DIR/.lock` for
the session's life. The kernel drops the lock when its process dies (SIGKILL included), so a dead
session's lock is simply taken over; a live one makes a second `run` or `resume` refuse with one line.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from groundwork.errors import ConfigError

__all__ = ["RunLock"]


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(f"{self.path.parent}:1: this run is live (pid {holder} is driving it); wait for "
                              "it to end, or stop it, before `synthteam resume`") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
