"""Control groups for one job: memory limit, process limit, peak memory, OOM and process-limit events.

cgroup v2 (memory.max, pids.max, memory.peak) where a writable delegated subtree exists, else the v1
memory and pids hierarchies; `JobCgroup.create` returns None when neither is writable (rlimits then).

Every job's group sits under its executor's owner folder, `<own cgroup>/synthteam/<owner>/<job_id>`
(in v1 once per controller), so what a dead orchestrator left behind can be told apart from the groups
of live ones on the same machine (`sandbox.orphans`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JobCgroup", "cgroup_bases"]

_ROOT = Path("/sys/fs/cgroup")


def _own_path(controller: str) -> str | None:
    """This process's cgroup path for a v1 controller ('memory'), or v2 ('' controller)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (controller == "" and controllers == ""):
            return path.lstrip("/")
    return None


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_keyed(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                out[key] = int(value)
    return out


@dataclass(frozen=True)
class JobCgroup:
    """The cgroup dirs of one job: (memory, pids, cpuacct) in v1, or one dir for all in v2. `cpu_dir` is None
    where CPU accounting cannot be had (the v1 cpuacct hierarchy is not writable)."""

    memory_dir: Path
    pids_dir: Path
    version: int
    cpu_dir: Path | None = None

    @classmethod
    def create(cls, name: str, memory_bytes: int | None, max_processes: int, owner: str = "anon") -> JobCgroup | None:
        for make in (cls._make_v2, cls._make_v1):
            with contextlib.suppress(OSError, ValueError):
                group = make(owner, name)
                if group is not None:
                    group._limit(memory_bytes, max_processes)
                    return group
        return None

    @classmethod
    def _make_v2(cls, owner: str, name: str) -> JobCgroup | None:
        own = _own_path("")
        if own is None or not (_ROOT / "cgroup.controllers").exists():
            return None
        parent = _ROOT / own / "synthteam"
        parent.mkdir(exist_ok=True)
        _write(parent / "cgroup.subtree_control", "+memory +pids")
        (parent / owner).mkdir(exist_ok=True)
        _write(parent / owner / "cgroup.subtree_control", "+memory +pids")
        leaf = parent / owner / name
        leaf.mkdir()
        return cls(leaf, leaf, 2, leaf)  # cpu.stat's usage_usec is kept in every v2 group

    @classmethod
    def _make_v1(cls, owner: str, name: str) -> JobCgroup | None:
        dirs = []
        for controller in ("memory", "pids"):
            own = _own_path(controller)
            base = _ROOT / controller
            if own is None or not (base / "cgroup.procs").exists():
                return None
            leaf = base / own / "synthteam" / owner / name
            leaf.parent.mkdir(parents=True, exist_ok=True)
            leaf.mkdir()
            dirs.append(leaf)
        return cls(dirs[0], dirs[1], 1, _make_v1_leaf("cpuacct", owner, name))

    def _limit(self, memory_bytes: int | None, max_processes: int) -> None:
        _write(self.pids_dir / "pids.max", str(max_processes))
        if memory_bytes is None:
            return
        if self.version == 2:
            _write(self.memory_dir / "memory.max", str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(self.memory_dir / "memory.swap.max", "0")
        else:
            _write(self.memory_dir / "memory.limit_in_bytes", str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(self.memory_dir / "memory.memsw.limit_in_bytes", str(memory_bytes))

    def _dirs(self) -> set[Path]:
        return {d for d in (self.memory_dir, self.pids_dir, self.cpu_dir) if d is not None}

    def attach(self, pid: int) -> None:
        for directory in self._dirs():
            _write(directory / "cgroup.procs", str(pid))

    def cpu_seconds(self) -> float | None:
        """CPU time of every process the job ran, the exited ones included (None: not accounted here)."""
        if self.cpu_dir is None:
            return None
        if self.version == 2:
            usec = _read_keyed(self.cpu_dir / "cpu.stat").get("usage_usec")
            return usec / 1e6 if usec is not None else None
        nanoseconds = _read_int(self.cpu_dir / "cpuacct.usage")
        return nanoseconds / 1e9 if nanoseconds is not None else None

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self._dirs():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return found

    def peak_memory(self) -> int | None:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return _read_int(self.memory_dir / name)

    def oom_killed(self) -> bool:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        return _read_keyed(self.memory_dir / name).get("oom_kill", 0) > 0

    def process_limit_hit(self) -> bool:
        return _read_keyed(self.pids_dir / "pids.events").get("max", 0) > 0

    def kill_all(self, sig: int = signal.SIGKILL) -> int:
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        return len(pids)

    def remove(self) -> None:
        """Remove the job's group, and its owner folder once that is empty (the executor's last job)."""
        for directory in self._dirs():
            with contextlib.suppress(OSError):
                directory.rmdir()
                directory.parent.rmdir()


def _make_v1_leaf(controller: str, owner: str, name: str) -> Path | None:
    """The job's group in one more v1 hierarchy (cpuacct), or None where that one is not writable."""
    own, base = _own_path(controller), _ROOT / controller
    if own is None or not (base / "cgroup.procs").exists():
        return None
    try:
        leaf = base / own / "synthteam" / owner / name
        leaf.parent.mkdir(parents=True, exist_ok=True)
        leaf.mkdir()
        return leaf
    except OSError:
        return None


def cgroup_bases() -> list[Path]:
    """This process's own cgroup folders (v2, and v1 memory, pids and cpuacct), where job groups are made."""
    found = []
    for controller, base in (("", _ROOT), ("memory", _ROOT / "memory"), ("pids", _ROOT / "pids"),
                             ("cpuacct", _ROOT / "cpuacct")):
        own = _own_path(controller)
        if own is not None and (base / "cgroup.procs").exists() and (base / own).is_dir():
            found.append(base / own)
    return found
