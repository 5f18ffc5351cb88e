"""CPU tokens for a parallel test run (pytest-xdist): the workers share one token per core, and a worker runs
pinned to the cores of the tokens it holds, so a test's training never competes with another test's.

Every test holds 1 token; `@pytest.mark.cpus(2)` (on a test or a module; on a 2-core machine: every token)
marks a test that needs the whole machine (two jobs that must run at once, each to a threshold in fixed
wall time), and a fixture that does so takes them inside `with cpus(2):`. Without xdist (a plain
`pytest`) nothing waits and nothing is pinned.

Token i is core i. Pinning covers every thread of the worker and of the processes it started that are
still alive (a session's Ray cluster), and sizes torch's thread pool to the cores when torch is loaded;
what it starts later inherits the affinity. The runtime sizes its job slots by the cores it may use
(`sandbox.slots.usable_cpus`), so a one-token test runs as on a one-core machine, whatever the other
worker does.

Tokens are `flock`s on files under the temp dir named by xdist's run id, so they vanish with the processes
that hold them (a crashed worker frees its tokens). Deadlock-free by construction: a worker never waits
while it holds a token, except when it takes every token in index order (a worker that needs more than it
holds lets go of all of them first, then takes them in order).
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["cpus", "tokens_total"]

_HELD: list = []  # open token files this worker holds (flocked), and the token's index
try:
    _CORES = sorted(os.sched_getaffinity(0))  # at import: before any pinning
except (AttributeError, OSError):  # not Linux: tokens without pinning
    _CORES = []


def tokens_total() -> int:
    return max(1, int(os.environ.get("SYNTHTEAM_TEST_CPUS") or len(_CORES) or os.cpu_count() or 1))


def _dir() -> Path | None:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run or not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    path = Path(tempfile.gettempdir()) / f"synthteam-cpu-tokens-{run}"
    path.mkdir(exist_ok=True)
    return path


def _release() -> None:
    while _HELD:
        _, handle = _HELD.pop()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
    _pin()


def _pin() -> None:
    """Every thread of this process onto the cores of the tokens held (all of them when none is held)."""
    if not _CORES or _dir() is None:
        return
    cores = {_CORES[i % len(_CORES)] for i, _ in _HELD} or set(_CORES)
    for pid in (os.getpid(), *_descendants()):
        _pin_process(pid, cores)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        # torch sized its OpenMP pool by the cores at import; two threads on one core run a small model
        # ~100x slower (each parallel region waits for a descheduled thread): as many threads as cores
        torch.set_num_threads(len(cores))


def _pin_process(pid: int, cores: set[int]) -> None:
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:  # it just ended
        return
    for tid in threads:
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:  # a thread that just ended, or a process that is not ours to pin
            continue


def _descendants() -> list[int]:
    """The processes this worker started that are still alive, and theirs (a session's Ray cluster: its
    raylet and workers would otherwise keep the cores of the test that started it)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])  # after "pid (comm) state"
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(children.get(os.getpid(), ()))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, ())
    return out


def _take(n: int) -> None:
    folder, total = _dir(), tokens_total()
    if folder is None:
        return
    n = min(max(n, 0), total)
    if n == 0:
        return
    if n == total:  # every token: wait for each in index order
        for i in range(total):
            handle = open(folder / str(i), "a")  # noqa: SIM115 - held until released
            fcntl.flock(handle, fcntl.LOCK_EX)
            _HELD.append((i, handle))
        _pin()
        return
    while True:  # some of them: whichever are free, never waiting while holding one
        for i in range(total):
            handle = open(folder / str(i), "a")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _HELD.append((i, handle))
            if len(_HELD) == n:
                _pin()
                return
        _release()
        time.sleep(0.05)


def held() -> int:
    return len(_HELD)


@contextmanager
def cpus(n: int):
    """Hold at least `n` tokens for the block (back to what was held before, after it)."""
    before = held()
    if n > before:
        _release()
        _take(n)
    try:
        yield
    finally:
        if held() != before:
            _release()
            _take(before)
