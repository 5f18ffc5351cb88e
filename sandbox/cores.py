"""The machine's cores, shared by every executor that opts in: a CPU job runs only while it holds one.

One lock file per usable core (`fcntl.flock`, so a holder's death frees its core); a job takes any free one
and waits, polling, while none is. Executors in one process or many (the cells of a comparison run side
by side, two runs on one machine) then never put more CPU jobs on the machine than it has cores: each
job's compute per CPU-second is what it would be alone (LOG.md: three jobs on two cores lose ~11% of it),
and slots a cell leaves idle are used by the next cell. A job with several CPU threads holds as many cores.
`SYNTHTEAM_SHARE_CORES=1` makes every executor of the process (and of its children) share them; a comparison
whose cells run side by side sets it, so that the verifier's jobs share the cores too.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from sandbox.slots import usable_cpus

__all__ = ["SharedCores", "SHARE_VAR", "sharing_asked"]

SHARE_VAR = "SYNTHTEAM_SHARE_CORES"


def sharing_asked() -> bool:
    """Whether this process (or a parent) asked every executor to share the cores (`SYNTHTEAM_SHARE_CORES=1`)."""
    return os.environ.get(SHARE_VAR) == "1"


class SharedCores:
    def __init__(self, count: int | None = None, folder: Path | None = None, poll_seconds: float = 0.05):
        self.count = count or usable_cpus()
        self.folder = folder or Path(tempfile.gettempdir()) / f"synthteam-cores-{os.getuid()}"
        self.poll_seconds = poll_seconds

    def try_acquire(self, n: int = 1) -> list[int] | None:
        """Locks of `n` held cores (open descriptors), or None when fewer are free (then none is kept: a job
        that needs two cores never sits on one while it waits for the other)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        held: list[int] = []
        for core in range(self.count):
            fd = os.open(self.folder / f"core-{core}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(fd)
            except OSError:
                os.close(fd)
            if len(held) == min(n, self.count):
                return held
        self.release(held)
        return None

    async def acquire(self, n: int = 1) -> list[int]:
        while (held := self.try_acquire(n)) is None:
            await asyncio.sleep(self.poll_seconds)
        return held

    @staticmethod
    def release(held: list[int]) -> None:
        for fd in held:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the last descriptor drops the lock
