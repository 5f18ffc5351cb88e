"""The machine's cores, shared by every executor that opts in: a CPU job runs only while it holds one.

One lock file per usable core (`fcntl.flock`, so a holder's death frees its core); a job takes any free one
and waits, polling, while none is. Executors in one process or many (the cells of a comparison run side
by side, two runs on one machine) then never put more CPU jobs on the machine than it has cores: each
job's compute per CPU-second is what it would be alone (LOG.md: three jobs on two cores lose ~11% of it),
and slots a cell leaves idle are used by the next cell.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from sandbox.slots import usable_cpus

__all__ = ["SharedCores"]


class SharedCores:
    def __init__(self, count: int | None = None, folder: Path | None = None, poll_seconds: float = 0.05):
        self.count = count or usable_cpus()
        self.folder = folder or Path(tempfile.gettempdir()) / f"synthteam-cores-{os.getuid()}"
        self.poll_seconds = poll_seconds

    def try_acquire(self) -> int | None:
        """A held core's lock (an open descriptor), or None when every core is taken."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for core in range(self.count):
            fd = os.open(self.folder / f"core-{core}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError:
                os.close(fd)
        return None

    async def acquire(self) -> int:
        while (fd := self.try_acquire()) is None:
            await asyncio.sleep(self.poll_seconds)
        return fd

    @staticmethod
    def release(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the last descriptor drops the lock
