"""Device slots: which GPUs (or CPU shares) a job may use, handed out in fair FIFO order.

A GPU has `per_gpu` concurrent slots; a job asking for g GPUs waits until g slots on distinct devices are
free and is pinned to them with CUDA_VISIBLE_DEVICES. CPU jobs take one of the CPU slots.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sandbox.jobs import JobResult

__all__ = ["DeviceSlots", "Grant", "charge_by", "cpu_share", "detect_gpus", "usable_cpus"]


@dataclass(frozen=True)
class Grant:
    """The devices one job holds: ("cuda:0", "cuda:2") or ("cpu:1",)."""

    devices: tuple[str, ...]

    @property
    def gpu_indices(self) -> tuple[str, ...]:
        return tuple(d.split(":", 1)[1] for d in self.devices if d.startswith("cuda:"))

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(self.gpu_indices)

    @property
    def device_count(self) -> int:
        return max(1, len(self.gpu_indices))


def detect_gpus() -> list[str]:
    """GPU indices from nvidia-smi (cheap), else from torch only if torch is already imported."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout
            return [line.strip() for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            return []
    torch = __import__("sys").modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return [str(i) for i in range(torch.cuda.device_count())]
    return []


@dataclass
class DeviceSlots:
    """Free capacity per device and a FIFO queue of waiting jobs. Create one per executor."""

    gpus: Mapping[str, int]  # GPU index -> concurrent jobs allowed on it
    cpu_slots: int = 1
    _free: dict[str, int] = field(init=False, repr=False)
    _queue: deque = field(init=False, repr=False, default_factory=deque)

    def __post_init__(self) -> None:
        self._free = {f"cuda:{i}": n for i, n in self.gpus.items()}
        self._free.update({f"cpu:{i}": 1 for i in range(max(1, self.cpu_slots))})

    @classmethod
    def declared(cls, gpus: int = 0, per_gpu: int = 1, cpu_slots: int | None = None,
                 cpu_threads: int = 1) -> DeviceSlots:
        cpus = cpu_slots if cpu_slots is not None else cpu_share(cpu_threads)
        return cls({str(i): per_gpu for i in range(gpus)}, cpus)

    @classmethod
    def detect(cls, per_gpu: int = 1, cpu_threads: int = 1) -> DeviceSlots:
        return cls({i: per_gpu for i in detect_gpus()}, cpu_share(cpu_threads))

    @property
    def gpu_count(self) -> int:
        return len(self.gpus)

    async def acquire(self, gpus: int = 0) -> Grant:
        """Wait (FIFO) for `gpus` GPU slots on distinct devices, or one CPU slot when gpus == 0."""
        if gpus > len(self.gpus):
            raise ValueError(f"job wants {gpus} GPUs but only {len(self.gpus)} exist")
        if not self._queue:
            grant = self._try_take(gpus)
            if grant is not None:
                return grant
        waiter = asyncio.get_running_loop().create_future()
        entry = (gpus, waiter)
        self._queue.append(entry)
        try:
            return await waiter
        except asyncio.CancelledError:
            self._forget(entry)
            raise

    def release(self, grant: Grant) -> None:
        for device in grant.devices:
            self._free[device] += 1
        self._wake()

    def _forget(self, entry: tuple) -> None:
        if entry in self._queue:
            self._queue.remove(entry)
        elif entry[1].done() and not entry[1].cancelled():
            self.release(entry[1].result())  # granted just as we were cancelled
        self._wake()

    def _wake(self) -> None:
        while self._queue:  # strict FIFO: the head waits, nobody overtakes it
            gpus, waiter = self._queue[0]
            if waiter.done():  # its task was cancelled; _forget will not find it again
                self._queue.popleft()
                continue
            grant = self._try_take(gpus)
            if grant is None:
                return
            self._queue.popleft()
            waiter.set_result(grant)

    def _try_take(self, gpus: int) -> Grant | None:
        prefix = "cuda:" if gpus else "cpu:"
        free = sorted((d for d, n in self._free.items() if n > 0 and d.startswith(prefix)),
                      key=lambda d: (-self._free[d], d))
        chosen = tuple(free[: max(gpus, 1)])
        if len(chosen) < max(gpus, 1):
            return None
        for device in chosen:
            self._free[device] -= 1
        return Grant(tuple(sorted(chosen)))


def usable_cpus() -> int:
    """The cores this process may run on: its CPU affinity (`taskset`, a container's or a Slurm job's
    cpuset), which the jobs it starts inherit; `os.cpu_count()` counts the whole machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def cpu_share(cpu_threads: int) -> int:
    """CPU job slots for jobs of `cpu_threads` threads each, on the cores this process may use."""
    return max(1, usable_cpus() // max(1, cpu_threads))


def charge_by(results: Iterable[JobResult], key: str = "role") -> dict[str, float]:
    """Device-seconds summed per value of `metadata[key]` (jobs without it count under "")."""
    totals: dict[str, float] = {}
    for result in results:
        who = str(result.metadata.get(key, ""))
        totals[who] = totals.get(who, 0.0) + result.device_seconds
    return totals
