"""LocalExecutor: runs each job in a fresh work dir on this machine, under bubblewrap when it works.

Limits: wall time (SIGTERM, grace, then SIGKILL of the whole tree), memory and process count (cgroup
v2 or v1; else rlimits: RLIMIT_AS for memory, RLIMIT_NPROC for processes, which root ignores), disk of
the work dir (a watcher kills on exceed, RLIMIT_FSIZE for single files). Each result names what enforced
them (`JobResult.enforcement`). Where bubblewrap is missing, jobs still run with every limit that can be
enforced and `notice` says loudly that isolation is reduced.

Nothing outlives a job: its whole tree is killed when it ends; if the orchestrator itself dies, bubblewrap
kills the sandbox with it (without bubblewrap the job's first process gets SIGKILL from the kernel), and
the next executor to start removes what is left (`sandbox.orphans.cleanup_orphans`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from sandbox import process
from sandbox.cgroups import JobCgroup
from sandbox.cores import SharedCores, sharing_asked
from sandbox.errors import ConfigError, JobError
from sandbox.isolation import bwrap_argv, check_read_paths, find_bwrap, job_env
from sandbox.jobs import METRICS_FILE, Job, JobHandle, JobResult, JobStatus
from sandbox.orphans import cleanup_orphans, new_owner
from sandbox.slots import DeviceSlots, Grant
from sandbox.warm import DEFAULT_IMPORTS, WarmPool, warm_problem
from sandbox.warmjob import warm_command
from sandbox.workdir import MetricsTail, prepare_workdir, tail_text

__all__ = ["LocalExecutor", "Isolation"]

Isolation = Literal["auto", "bwrap", "none"]
REDUCED = ("synthteam sandbox: bubblewrap is {why}; jobs run WITHOUT isolation (they can read the host's "
           "files, reach the network and see other processes); limits still apply")
_OOM_WORDS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "can't allocate memory", "out of memory")


@cache
def _bwrap_works(bwrap: str) -> bool:
    probe = [bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--proc", "/proc", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@dataclass
class _Run:
    """Mutable state of one submitted job (internal to the executor)."""

    job: Job
    workdir: Path
    tail: MetricsTail
    task: asyncio.Task | None = None
    proc: asyncio.subprocess.Process | None = None
    cgroup: JobCgroup | None = None
    reason: JobStatus | None = None
    error: str = ""
    peak: int = 0
    stopping: bool = False
    stopper: asyncio.Future | None = None
    warm: bool = False  # started as a fork of the warm worker (sandbox.warm)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class LocalExecutor:
    """Executor on this machine. `isolation` is "bwrap" or "none" after construction."""

    def __init__(self, root: Path, slots: DeviceSlots | None = None, isolation: Isolation = "auto",
                 term_grace: float = 2.0, poll_seconds: float = 0.05, cgroups: bool = True, warm: bool | None = None,
                 share_cores: bool | SharedCores = False, warm_imports: tuple[str, ...] = DEFAULT_IMPORTS):
        self.root = Path(root).absolute()
        self.use_cgroups = cgroups  # False: rlimits only, as where /sys/fs/cgroup is read-only
        self.slots = slots or DeviceSlots.detect()
        self.term_grace, self.poll_seconds = term_grace, poll_seconds
        self._bwrap, self.isolation, self.notice = _choose_isolation(isolation)
        if self.notice:
            warnings.warn(self.notice, RuntimeWarning, stacklevel=2)
        self._runs: dict[str, _Run] = {}
        self.owner = new_owner()
        self.orphans = cleanup_orphans()  # what dead orchestrators left on this machine
        eager = warm is True  # asked for: every job waits for the warm worker; by default (None) it starts at the
        if warm is None:      # second job and jobs start cold until it is up; SYNTHTEAM_WARM=0 turns it off
            warm = os.environ.get("SYNTHTEAM_WARM", "1") != "0"
        self.warm_problem = warm_problem(self.isolation, cgroups and _cgroups_work()) if warm \
            else "turned off"
        self.warm = WarmPool(self.root, warm_imports, eager=eager) if self.warm_problem is None else None
        share_cores = share_cores or sharing_asked()
        self.cores = share_cores if isinstance(share_cores, SharedCores) else SharedCores() if share_cores else None
        # ^ CPU jobs also hold one of the machine's cores (sandbox.cores)

    def workdir(self, handle: JobHandle) -> Path:
        return self.root / handle.job_id

    async def submit(self, job: Job) -> JobHandle:
        if job.job_id in self._runs:
            raise JobError("duplicate_job", "submit", f"job {job.job_id} was already submitted")
        job_env(job, Path("/"), "", True)  # refuse credentials now, not when the slot frees
        check_read_paths(job)
        workdir = await asyncio.to_thread(prepare_workdir, self.root, job)
        run = _Run(job, workdir, MetricsTail(workdir / METRICS_FILE))
        self._runs[job.job_id] = run
        run.task = asyncio.create_task(self._drive(run), name=f"job-{job.job_id}")
        return JobHandle(job.job_id, job)

    async def wait(self, handle: JobHandle) -> JobResult:
        return await asyncio.shield(self._run(handle).task)

    async def cancel(self, handle: JobHandle) -> None:
        run = self._run(handle)
        if run.done.is_set():
            return
        run.reason = run.reason or JobStatus.CANCELLED
        run.error = run.error or "cancelled by request"
        if run.proc is None:
            run.task.cancel()  # still queued for a slot
        else:
            await self._stop(run, self.term_grace)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(run.task)

    def prewarm(self) -> None:
        """Start the warm worker now rather than at the second job (call it inside the event loop)."""
        if self.warm is not None:
            self.warm.prewarm()

    async def close(self) -> None:
        """Stop the warm worker (it also ends by itself when idle, or with this process)."""
        if self.warm is not None:
            await self.warm.close()

    async def metrics(self, handle: JobHandle) -> AsyncIterator[dict]:
        run = self._run(handle)
        async for row in run.tail.follow():
            yield row

    def _run(self, handle: JobHandle) -> _Run:
        try:
            return self._runs[handle.job_id]
        except KeyError:
            raise JobError("unknown_job", "lookup", f"no job {handle.job_id} on this executor") from None

    async def _drive(self, run: _Run) -> JobResult:
        grant: Grant | None = None
        cores: list[int] = []
        started = time.monotonic()
        try:
            grant = await self.slots.acquire(run.job.resources.gpus)
            if self.cores is not None and not run.job.resources.gpus and run.job.metadata.get("kind") != "dev_eval":
                cores = await self.cores.acquire(max(1, run.job.resources.cpu_threads))  # dev evaluations (seconds)
                # keep their own lane
            started = time.monotonic()
            returncode = await self._execute(run, grant)
            return await self._finish(run, grant, returncode, time.monotonic() - started)
        except asyncio.CancelledError:
            return await self._finish(run, grant or Grant(()), None, time.monotonic() - started)
        finally:
            if cores:
                self.cores.release(cores)
            if grant is not None:
                self.slots.release(grant)
            if run.cgroup is not None:
                run.cgroup.remove()
            if run.warm:
                self.warm.forget(run.job.job_id)
            run.tail.close()
            run.done.set()

    async def _execute(self, run: _Run, grant: Grant) -> int | None:
        job, isolated = run.job, self._bwrap is not None
        env = job_env(job, run.workdir, grant.cuda_visible_devices, isolated, owner=self.owner)
        argv = bwrap_argv(self._bwrap, job, run.workdir) if isolated else list(job.command)
        if self.use_cgroups:
            run.cgroup = JobCgroup.create(job.job_id, job.resources.memory_bytes, job.limits.max_processes,
                                          owner=self.owner)
        warm = self.warm is not None and run.cgroup is not None and not job.resources.gpus \
            and warm_command(job.command)
        run.proc = await self.warm.spawn(job.job_id, argv, env, run.workdir) if warm else None
        run.warm = run.proc is not None
        if run.proc is None:
            with open(run.workdir / "stdout.log", "ab") as out, open(run.workdir / "stderr.log", "ab") as err:
                run.proc = await process.spawn_gated(argv, env, run.workdir, out, err, die_with_parent=not isolated)
        try:
            if run.cgroup is not None:
                run.cgroup.attach(run.proc.pid)
            process.set_rlimits(run.proc.pid, _rlimits(job, run.cgroup))
        except OSError as exc:
            run.proc.kill()
            raise JobError("launch", "submit", f"could not limit the job: {exc}", retryable=True) from exc
        if run.warm:
            await self.warm.release(job.job_id)
        else:
            await process.release_gate(run.proc)
        return await self._watch(run)

    async def _watch(self, run: _Run) -> int | None:
        deadline = time.monotonic() + run.job.limits.wall_seconds
        exited = asyncio.ensure_future(run.proc.wait())
        tick = 0
        while not exited.done():
            await asyncio.wait({exited}, timeout=self.poll_seconds)
            run.tail.poll()
            tick += 1
            if run.reason is None:
                await self._check_limits(run, deadline, tick)
        await process.kill_tree(run.job.job_id, run.cgroup, run.proc.pid, owner=self.owner)  # daemons die with it
        run.tail.poll()
        return exited.result()

    async def _check_limits(self, run: _Run, deadline: float, tick: int) -> None:
        if time.monotonic() > deadline:
            run.reason, run.error = JobStatus.TIMEOUT, f"wall time limit {run.job.limits.wall_seconds:g} s"
            run.stopper = asyncio.ensure_future(self._stop(run, self.term_grace))
        elif _over_cpu(run):
            run.reason, run.error = JobStatus.TIMEOUT, f"CPU time limit {run.job.limits.cpu_seconds:g} s"
            run.stopper = asyncio.ensure_future(self._stop(run, self.term_grace))
        elif run.cgroup is not None and run.cgroup.process_limit_hit():
            run.reason = JobStatus.KILLED
            run.error = f"process limit {run.job.limits.max_processes} reached"
            await self._stop(run, 0.0)
        elif tick % 5 == 0:
            await self._check_disk_and_memory(run)

    async def _check_disk_and_memory(self, run: _Run) -> None:
        limit = run.job.limits.disk_bytes
        if limit is not None:
            used = await asyncio.to_thread(process.disk_usage, run.workdir)
            if used > limit:
                run.reason, run.error = JobStatus.KILLED, f"disk limit exceeded: work dir {used} > {limit} bytes"
                await self._stop(run, 0.0)
                return
        if run.cgroup is None:
            pids = await asyncio.to_thread(process.tree_pids, run.job.job_id, None, None, self.owner)
            run.peak = max(run.peak, process.rss_bytes(pids))

    async def _stop(self, run: _Run, grace: float) -> None:
        """SIGTERM the tree, give it `grace` seconds, then SIGKILL everything that is left."""
        if run.stopping or run.proc is None:
            return
        run.stopping = True
        if grace > 0:
            pids = await asyncio.to_thread(process.tree_pids, run.job.job_id, run.cgroup, None, self.owner)
            process.signal_pids(pids, signal.SIGTERM, spare_bwrap=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(run.proc.wait()), grace)
        await process.kill_tree(run.job.job_id, run.cgroup, run.proc.pid, owner=self.owner)

    async def _finish(self, run: _Run, grant: Grant, returncode: int | None, wall: float) -> JobResult:
        if run.proc is not None and returncode is None:
            await process.kill_tree(run.job.job_id, run.cgroup, run.proc.pid, owner=self.owner)
        stdout = await asyncio.to_thread(tail_text, run.workdir / "stdout.log")
        stderr = await asyncio.to_thread(tail_text, run.workdir / "stderr.log")
        status = self._status(run, returncode, stderr)
        ran = run.proc is not None
        cpu = run.cgroup.cpu_seconds() if run.cgroup is not None and ran else None
        on_cpu = run.job.limits.cpu_seconds is not None and cpu is not None
        return JobResult(
            job_id=run.job.job_id, status=status, exit_code=returncode, metrics=tuple(run.tail.rows),
            workdir=run.workdir, wall_seconds=wall if ran else 0.0,
            device_seconds=(cpu if on_cpu else wall * grant.device_count) if ran else 0.0,
            peak_memory_bytes=self._peak(run), stdout_tail=stdout, stderr_tail=stderr, devices=grant.devices,
            metadata=dict(run.job.metadata), error=run.error if status is not JobStatus.OK else "",
            enforcement=_enforcement(run.cgroup, self.isolation) + (", warm start" if run.warm else ""),
            cpu_seconds=cpu,
            clock="cpu" if run.job.limits.cpu_seconds is not None else "wall")

    def _status(self, run: _Run, returncode: int | None, stderr: str) -> JobStatus:
        if run.reason is not None:
            return run.reason
        if returncode is None:
            run.error = run.error or "the job never started"
            return JobStatus.CANCELLED
        if run.cgroup is not None and run.cgroup.oom_killed():
            run.error = f"memory limit {run.job.resources.memory_bytes} bytes exceeded (killed by the OOM killer)"
            return JobStatus.OOM
        if returncode == 0:
            return JobStatus.OK
        return self._failure(run, returncode, stderr)

    def _failure(self, run: _Run, returncode: int, stderr: str) -> JobStatus:
        xfsz = returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or "File too large" in stderr
        if xfsz and run.job.limits.disk_bytes:
            run.error = f"disk limit {run.job.limits.disk_bytes} bytes: a file outgrew it"
            return JobStatus.KILLED
        if run.job.resources.memory_bytes and any(w in stderr for w in _OOM_WORDS):
            run.error = f"memory limit {run.job.resources.memory_bytes} bytes exceeded (allocation failed)"
            return JobStatus.OOM
        if returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
            run.error = "killed by SIGKILL"
            return JobStatus.KILLED
        run.error = f"exit code {returncode}"
        return JobStatus.FAILED

    def _peak(self, run: _Run) -> int | None:
        measured = run.cgroup.peak_memory() if run.cgroup is not None else None
        return measured or run.peak or None


def _over_cpu(run: _Run) -> bool:
    limit = run.job.limits.cpu_seconds
    used = run.cgroup.cpu_seconds() if limit is not None and run.cgroup is not None else None
    return used is not None and used > limit


def _probe_group() -> JobCgroup | None:
    """A throwaway job group (the caller removes it); its name is unique per thread and call, as cells side by
    side probe at once."""
    name = f"probe-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
    return JobCgroup.create(name, None, 64, owner=name)


@cache
def _cgroups_work() -> bool:
    group = _probe_group()
    if group is not None:
        group.remove()
    return group is not None


def cpu_clock_problem() -> str | None:
    """Why jobs here cannot be limited by CPU-seconds (None: they can): the cgroup CPU accounting."""
    group = _probe_group()
    if group is None:
        return "no writable cgroup here"
    try:
        return None if group.cpu_seconds() is not None else "the cgroup has no CPU accounting (cpuacct)"
    finally:
        group.remove()


def _rlimits(job: Job, cgroup: JobCgroup | None) -> dict[int, int]:
    limits = {resource.RLIMIT_CORE: 0}
    if job.limits.disk_bytes is not None:
        limits[resource.RLIMIT_FSIZE] = job.limits.disk_bytes
    if cgroup is None:  # root ignores RLIMIT_NPROC; RLIMIT_AS counts address space, not resident memory
        limits[resource.RLIMIT_NPROC] = job.limits.max_processes
        if job.resources.memory_bytes is not None:
            limits[resource.RLIMIT_AS] = job.resources.memory_bytes
    return limits


def _enforcement(cgroup: JobCgroup | None, isolation: str) -> str:
    limits = f"cgroup-v{cgroup.version}" if cgroup is not None else "rlimits"
    return f"{limits}, isolation {isolation}"


def bwrap_problem() -> str | None:
    """Why jobs on this machine could not run inside bubblewrap (None: they can)."""
    bwrap = find_bwrap()
    if bwrap is not None and _bwrap_works(bwrap):
        return None
    return "not installed" if bwrap is None else f"installed at {bwrap} but cannot create namespaces here"


def _choose_isolation(isolation: Isolation) -> tuple[str | None, str, str | None]:
    if isolation == "none":
        return None, "none", REDUCED.format(why="turned off (isolation='none')")
    bwrap = find_bwrap()
    if bwrap is not None and _bwrap_works(bwrap):
        return bwrap, "bwrap", None
    why = "not installed" if bwrap is None else f"installed at {bwrap} but cannot create namespaces here"
    if isolation == "bwrap":
        raise ConfigError(f"--isolation bwrap: bubblewrap is {why}")
    return None, "none", REDUCED.format(why=why)
