"""What a dead orchestrator left behind, found and removed: job processes and cgroup folders.

Every executor has an owner token, `o<pid>-<start ticks>-<n>`: its process id and start time (so a
reused pid is not mistaken for it) and a counter. Each of its jobs carries the token in its environment
(`SYNTHTEAM_OWNER`) and its cgroup sits in `synthteam/<token>/`. `cleanup_orphans()` kills the
processes and removes the groups of every owner that is no longer alive, and never touches a live one's.
A `LocalExecutor` calls it when it starts; call it yourself when resuming a killed run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox.cgroups import cgroup_bases
from sandbox.isolation import OWNER_VAR

__all__ = ["OWNER_VAR", "Cleanup", "new_owner", "owner_alive", "cleanup_orphans"]

LEGACY_AGE = 60.0  # an empty group in the old layout (no owner) this old is gone for good
_counter = itertools.count()


@dataclass(frozen=True)
class Cleanup:
    """What one cleanup did: the processes it killed and the cgroup folders it removed."""

    killed: tuple[int, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.killed or self.removed)


def _start_ticks(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def new_owner() -> str:
    """A token naming this process (and a fresh counter), for one executor."""
    pid = os.getpid()
    return f"o{pid}-{_start_ticks(pid) or 0}-{next(_counter)}"


def owner_alive(token: str) -> bool:
    """True while the process that made `token` runs (False for anything that is not a token)."""
    try:
        pid, ticks, _ = token[1:].split("-")
        return token.startswith("o") and _start_ticks(int(pid)) == int(ticks)
    except ValueError:
        return False


def _owned_processes() -> dict[int, str]:
    """pid -> owner token, for every process that carries one in its environment."""
    marker = f"{OWNER_VAR}=".encode()
    found: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry.name}/environ", "rb") as fh:
            for item in fh.read().split(b"\0"):
                if item.startswith(marker):
                    found[int(entry.name)] = item[len(marker):].decode(errors="replace")
    return found


def _kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _group_pids(folder: Path) -> set[int]:
    pids: set[int] = set()
    for procs in folder.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(p) for p in procs.read_text().split())
    return pids


def _remove_tree(folder: Path, removed: list[str]) -> None:
    """rmdir the job groups below `folder`, then `folder` (a group with live processes stays)."""
    try:
        leaves = sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True)
    except FileNotFoundError:  # another cleanup (a second run starting at once) removed it first
        return
    for leaf in leaves:
        _remove_tree(leaf, removed)
    with contextlib.suppress(OSError):
        folder.rmdir()
        removed.append(str(folder))


def _dead_groups(killed: set[int], removed: list[str]) -> None:
    for base in cgroup_bases():
        parent = base / "synthteam"
        try:
            folders = [f for f in parent.iterdir() if f.is_dir()]
        except FileNotFoundError:
            folders = []
        for folder in folders:
            if folder.name.startswith("o") and not owner_alive(folder.name):
                _empty(folder, killed)
                _remove_tree(folder, removed)
            elif not folder.name.startswith("o") and _stale(folder):  # v2 groups of earlier versions
                _remove_tree(folder, removed)
        for folder in base.glob("synthteam-*"):  # v1 groups of earlier versions, beside synthteam/
            if _stale(folder):
                _remove_tree(folder, removed)


def _stale(folder: Path) -> bool:
    """An old-layout group (no owner) may belong to a live job: only one this old, and empty, goes."""
    with contextlib.suppress(OSError):
        return time.time() - folder.stat().st_mtime >= LEGACY_AGE
    return False


def _empty(folder: Path, killed: set[int]) -> None:
    for _ in range(50):  # a forking job cannot outrun this
        pids = _group_pids(folder)
        if not pids:
            return
        killed.update(pids)
        _kill(pids)
        time.sleep(0.01)


def cleanup_orphans() -> Cleanup:
    """Kill the job processes of dead owners, then remove their (and stale old-layout) cgroup folders."""
    killed: set[int] = set()
    for _ in range(20):
        stray = {pid for pid, owner in _owned_processes().items() if not owner_alive(owner)}
        if not stray:
            break
        killed |= stray
        _kill(stray)
        time.sleep(0.01)
    removed: list[str] = []
    _dead_groups(killed, removed)
    return Cleanup(tuple(sorted(killed)), tuple(removed))
