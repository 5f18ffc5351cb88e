"""The job's process tree on the host: start it held at a gate, then limit, find and kill all of it.

A job starts as `sh -c 'read go; exec "$@"'`: the harness puts the waiting shell into the job's cgroup
and sets its rlimits before letting it exec, so every descendant inherits both. Stray processes are
found through the cgroup and through the job-id marker in their environment (daemons included).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from sandbox.cgroups import JobCgroup
from sandbox.isolation import JOB_ID_VAR, OWNER_VAR

__all__ = ["spawn_gated", "release_gate", "set_rlimits", "marked_pids", "tree_pids", "signal_pids", "kill_tree",
           "rss_bytes", "disk_usage"]

_GATE = 'read _go || exit 111; exec "$@"'


def _libc_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()  # looked up once here: the child after fork only calls it
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


async def spawn_gated(argv: Sequence[str], env: Mapping[str, str], cwd: Path, stdout, stderr,
                      die_with_parent: bool = False):
    """Start `argv` held at a gate in a new session; it runs only after `release_gate`. With
    `die_with_parent`, the kernel SIGKILLs it when the harness dies (bwrap does this itself)."""
    return await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", _GATE, "synthteam-job", *argv, stdin=asyncio.subprocess.PIPE,
        stdout=stdout, stderr=stderr, env=dict(env), cwd=str(cwd), start_new_session=True,
        preexec_fn=_die_with_parent if die_with_parent else None)


async def release_gate(proc) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        proc.stdin.close()


def set_rlimits(pid: int, limits: Mapping[int, int]) -> None:
    """Apply rlimits to the gated process (inherited by everything it starts)."""
    for which, value in limits.items():
        with contextlib.suppress(OSError, ValueError):
            resource.prlimit(pid, which, (value, value))


def marked_pids(job_id: str, owner: str = "") -> set[int]:
    """Processes whose environment carries this job's id (readable to root; survives setsid) and, when
    `owner` is given, its executor's token: job ids derive from the work, so two runs on one machine can
    start jobs with the same id, and neither may touch the other's."""
    markers = {f"{JOB_ID_VAR}={job_id}".encode()} | ({f"{OWNER_VAR}={owner}".encode()} if owner else set())
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if markers <= set(fh.read().split(b"\0")):
                    found.add(int(entry.name))
    found.discard(os.getpid())
    return found


def tree_pids(job_id: str, cgroup: JobCgroup | None, root_pid: int | None, owner: str = "") -> set[int]:
    """The job's processes: marked with its id (and its executor's token), in its cgroup, its first one."""
    pids = marked_pids(job_id, owner) | (cgroup.pids() if cgroup else set())
    if root_pid is not None and Path(f"/proc/{root_pid}").exists():
        pids.add(root_pid)
    return pids


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def signal_pids(pids: set[int], sig: int, spare_bwrap: bool = False) -> None:
    """Send `sig` to each pid; SIGTERM spares bwrap (its death would SIGKILL the job at once)."""
    for pid in pids:
        if spare_bwrap and _comm(pid) == "bwrap":
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


async def kill_tree(job_id: str, cgroup: JobCgroup | None, root_pid: int | None, rounds: int = 50,
                    owner: str = "") -> None:
    """SIGKILL every process of the job until none is left (a forking daemon cannot outrun it)."""
    for _ in range(rounds):
        pids = await asyncio.to_thread(tree_pids, job_id, cgroup, root_pid, owner)
        if root_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(root_pid, signal.SIGKILL)
        if not pids:
            return
        signal_pids(pids, signal.SIGKILL)
        await asyncio.sleep(0.01)


def rss_bytes(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def disk_usage(path: Path) -> int:
    """Bytes allocated under `path` (blocks, so sparse files count what they really use)."""
    total, stack = 0, [str(path)]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total
