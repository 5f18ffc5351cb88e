"""RayExecutor: the same Job contract on a Ray cluster (extra `ray`, imported lazily).

Each job gets a Ray actor holding `num_gpus=job.resources.gpus`; the actor runs the job with a
LocalExecutor (same bubblewrap sandbox and limits) pinned to Ray's GPUs, streams its metrics, and sends
the work dir back as a tar archive, unpacked into `root/<job_id>/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from sandbox.errors import JobError
from sandbox.isolation import check_read_paths, job_env
from sandbox.jobs import Job, JobHandle, JobResult, JobStatus
from sandbox.local import Isolation, LocalExecutor
from sandbox.slots import DeviceSlots
from sandbox.workdir import check_files

__all__ = ["RayExecutor"]


def _pack(workdir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        tar.add(workdir, arcname=".")  # symlinks stay links; nothing outside is followed
    return buffer.getvalue()


def _unpack(archive: bytes, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(target, filter="data")  # refuses absolute paths, '..', devices
    return target


class _JobRunner:
    """Runs one job on a Ray worker with the local sandbox (becomes a Ray actor in `_runner_class`)."""

    def __init__(self, isolation: str, term_grace: float):
        import ray

        self.root = Path(tempfile.mkdtemp(prefix="synthteam-ray-"))
        slots = DeviceSlots({str(int(float(i))): 1 for i in ray.get_gpu_ids()}, cpu_slots=1)
        self.executor = LocalExecutor(self.root, slots, isolation, term_grace)  # type: ignore[arg-type]
        self.handle: JobHandle | None = None
        self.submitted: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        self.submitted = self.submitted or asyncio.Event()
        return self.submitted

    async def ready(self) -> str:
        return self.executor.isolation

    async def run(self, job: Job) -> tuple[JobResult, bytes]:
        self.handle = await self.executor.submit(job)
        self._event().set()
        result = await self.executor.wait(self.handle)
        archive = await asyncio.to_thread(_pack, result.workdir)
        await asyncio.to_thread(shutil.rmtree, self.root, True)
        return result, archive

    async def cancel(self) -> None:
        await self._event().wait()
        await self.executor.cancel(self.handle)

    async def stream_metrics(self):
        await self._event().wait()
        async for row in self.executor.metrics(self.handle):
            yield row


@cache
def _runner_class():
    import ray

    return ray.remote(_JobRunner)


@dataclass
class _Remote:
    job: Job
    actor: Any
    task: asyncio.Task | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False


class RayExecutor:
    """Executor on a Ray cluster: `address` of a running cluster, or None for a local one."""

    def __init__(self, address: str | None = None, num_gpus: int | None = None, *, root: Path,
                 isolation: Isolation = "auto", term_grace: float = 2.0, num_cpus: int | None = None):
        import ray

        if not ray.is_initialized():
            declared = {"num_gpus": num_gpus, "num_cpus": num_cpus} if address is None else {}
            extra = {k: v for k, v in declared.items() if v is not None}
            ray.init(address=address, include_dashboard=False, **extra)
        self.root = Path(root).absolute()
        self.isolation, self.term_grace = isolation, term_grace
        self.notice: str | None = None
        self._remotes: dict[str, _Remote] = {}

    async def submit(self, job: Job) -> JobHandle:
        if job.job_id in self._remotes or (self.root / job.job_id).exists():
            raise JobError("duplicate_job", "submit", f"job {job.job_id} was already submitted")
        job_env(job, Path("/"), "", True)  # refuse credentials before anything leaves this machine
        check_read_paths(job)
        check_files(job)
        options = {"num_gpus": job.resources.gpus, "num_cpus": max(1, job.resources.cpu_threads)}
        actor = _runner_class().options(**options).remote(self.isolation, self.term_grace)
        remote = _Remote(job, actor)
        remote.task = asyncio.create_task(self._drive(remote), name=f"ray-job-{job.job_id}")
        self._remotes[job.job_id] = remote
        return JobHandle(job.job_id, job)

    async def wait(self, handle: JobHandle) -> JobResult:
        return await asyncio.shield(self._remote(handle).task)

    async def cancel(self, handle: JobHandle) -> None:
        remote = self._remote(handle)
        if remote.task.done():
            return
        remote.cancelled = True
        if remote.started.is_set():
            with contextlib.suppress(Exception):
                await remote.actor.cancel.remote()
        else:
            self._kill(remote)  # still waiting for resources: nothing ran
        with contextlib.suppress(Exception):
            await asyncio.shield(remote.task)

    async def metrics(self, handle: JobHandle) -> AsyncIterator[dict]:
        remote, seen = self._remote(handle), 0
        with contextlib.suppress(Exception):  # the actor may be gone: the result has every row
            async for ref in remote.actor.stream_metrics.options(num_returns="streaming").remote():
                seen += 1
                yield await ref
        for row in (await self.wait(handle)).metrics[seen:]:
            yield row

    def _remote(self, handle: JobHandle) -> _Remote:
        try:
            return self._remotes[handle.job_id]
        except KeyError:
            raise JobError("unknown_job", "lookup", f"no job {handle.job_id} on this executor") from None

    async def _drive(self, remote: _Remote) -> JobResult:
        try:
            await remote.actor.ready.remote()
            remote.started.set()
            result, archive = await remote.actor.run.remote(remote.job)
        except Exception as exc:  # noqa: BLE001 - any Ray failure becomes a result, not a crash
            return self._not_run(remote, exc)
        finally:
            self._kill(remote)
        workdir = await asyncio.to_thread(_unpack, archive, self.root / remote.job.job_id)
        return replace(result, workdir=workdir)

    def _not_run(self, remote: _Remote, exc: Exception) -> JobResult:
        status = JobStatus.CANCELLED if remote.cancelled else JobStatus.KILLED
        why = "cancelled before it started" if remote.cancelled else f"ray worker failed: {exc}"
        workdir = self.root / remote.job.job_id
        workdir.mkdir(parents=True, exist_ok=True)
        return JobResult(remote.job.job_id, status, None, (), workdir, 0.0, 0.0, None, "", "",
                         metadata=dict(remote.job.metadata), error=" ".join(why.split())[:500])

    @staticmethod
    def _kill(remote: _Remote) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.kill(remote.actor)
