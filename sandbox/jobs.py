"""The Job contract: what a role asks the sandbox to run, and what comes back.

A `Job` is plain data (a command, files to place, what it may read, resources, limits, metadata);
an `Executor` runs it and returns a `JobResult`. Printed numbers are never trusted for scoring:
the verifier recomputes. Metrics are JSON objects the job appends, one per line, to the file named by
the environment variable ``SYNTHTEAM_METRICS`` (``metrics.jsonl`` in the job's work dir).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["Job", "JobHandle", "JobResult", "JobStatus", "Limits", "Resources", "Executor", "METRICS_FILE",
           "on_cpu_clock", "CPU_CLOCK_BACKSTOP"]

METRICS_FILE = "metrics.jsonl"


class JobStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    OOM = "oom"
    KILLED = "killed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Resources:
    gpus: int = 0  # how many devices of a GPU slot the job needs (0: CPU only)
    cpu_threads: int = 1  # OMP/MKL/torch threads inside the job
    memory_bytes: int | None = None  # hard memory limit; None: no limit beyond the machine's


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 600.0
    disk_bytes: int | None = None  # size limit of the work dir, where it can be enforced
    max_processes: int = 512
    # CPU-seconds of all the job's processes together (its cgroup's CPU accounting): the job gets the same
    # compute alone and beside busy neighbours. None: wall-clock only. `wall_seconds` stays a backstop.
    cpu_seconds: float | None = None


CPU_CLOCK_BACKSTOP = 4.0  # a job on the CPU clock may run this many times its CPU-seconds of wall (+ 30 s)


def on_cpu_clock(job: Job) -> Job:
    """The job limited by the CPU-seconds of its processes instead of wall seconds (neighbours then slow it
    but do not take its compute); its wall limit stays as a backstop, and SYNTHTEAM_CLOCK=cpu tells the
    program which clock its own deadline is on. A GPU job stays on the wall clock."""
    if job.resources.gpus or job.limits.cpu_seconds is not None:
        return job
    seconds = job.limits.wall_seconds
    limits = replace(job.limits, cpu_seconds=seconds, wall_seconds=CPU_CLOCK_BACKSTOP * seconds + 30.0)
    return replace(job, env={**job.env, "SYNTHTEAM_CLOCK": "cpu"}, limits=limits)


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Job:
    command: tuple[str, ...]
    files: Mapping[str, str | bytes] = field(default_factory=dict)  # work-dir-relative path -> content
    env: Mapping[str, str] = field(default_factory=dict)  # added to the scrubbed environment
    read_paths: tuple[Path, ...] = ()  # visible read-only, at the same absolute path
    resources: Resources = Resources()
    limits: Limits = Limits()
    metadata: Mapping[str, Any] = field(default_factory=dict)  # run, agent, role, round, ...
    job_id: str = field(default_factory=_new_id)


@dataclass(frozen=True)
class JobResult:
    job_id: str
    status: JobStatus
    exit_code: int | None
    metrics: tuple[dict, ...]
    workdir: Path  # the job's own work dir; its files are the job's artifacts
    wall_seconds: float
    device_seconds: float  # what the job is charged: wall seconds x devices held, or its CPU-seconds on the CPU clock
    peak_memory_bytes: int | None
    stdout_tail: str
    stderr_tail: str
    devices: tuple[str, ...] = ()  # the slot(s) the job ran on, e.g. ("cuda:0",) or ("cpu:1",)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""  # the harness's own word on why, when status is not ok
    enforcement: str = ""  # what held the limits: "cgroup-v2" | "cgroup-v1" | "rlimits", and the isolation
    cpu_seconds: float | None = None  # CPU time of all its processes (cgroup accounting; None: not measured)
    clock: str = "wall"  # what limited it and what it is charged: "wall", or "cpu" (its cgroup's CPU-seconds)

    @property
    def ok(self) -> bool:
        return self.status is JobStatus.OK

    def summary(self) -> dict[str, str]:
        """The `key: value` lines the job printed last (its own summary, untrusted for scoring)."""
        out: dict[str, str] = {}
        for line in self.stdout_tail.splitlines():
            key, sep, value = line.partition(": ")
            if sep and key and " " not in key.strip() and not line.startswith("{"):
                out[key.strip()] = value.strip()
        return out


@dataclass(frozen=True)
class JobHandle:
    job_id: str
    job: Job


@runtime_checkable
class Executor(Protocol):
    """Runs jobs. `term_grace`: seconds between SIGTERM and SIGKILL of a job past its limit (its callers
    leave that much room in the limit); `notice`: a warning when isolation is reduced, else None."""

    term_grace: float
    notice: str | None

    async def submit(self, job: Job) -> JobHandle: ...

    async def wait(self, handle: JobHandle) -> JobResult: ...

    async def cancel(self, handle: JobHandle) -> None: ...

    def metrics(self, handle: JobHandle) -> AsyncIterator[dict]: ...
