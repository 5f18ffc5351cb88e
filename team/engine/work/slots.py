"""The job slots: training jobs wait for one of the run's slots, dev evaluations for their own lane; each
job holds a reservation while it runs (its own, or the part of a training job's reservation kept for its
evaluation), is submitted to the executor in the order jobs came, and settles what it used when it ends;
its work dir is kept under the run's jobs/ folder. `halt()` stops every job now.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sandbox import Executor, Job, JobResult, on_cpu_clock
from team.engine.records import catalog as ev
from team.engine.records.events import EventLog
from team.engine.records.ledger import Ledger, Reservation
from team.engine.work.share import JobTime

__all__ = ["Slots"]


class Slots:
    def __init__(self, executor: Executor, ledger: Ledger, events: EventLog, jobs_dir: Path, capacity: int,
                 share: JobTime, clock: str = "wall"):
        self.executor, self.ledger, self.events, self.jobs_dir = executor, ledger, events, jobs_dir
        self.clock = clock  # "cpu": CPU jobs are limited and charged by their CPU-seconds (sandbox.on_cpu_clock)
        self.share, self.occupancy = share, share.occupancy
        self._training = asyncio.Semaphore(capacity)
        # Dev evaluations take seconds: they get their own lane instead of queueing behind minute-long
        # training jobs (a merge would otherwise hold up every later review).
        self._evaluation = asyncio.Semaphore(1)
        # Submissions one at a time, in the order they came: job_started rows then follow the decisions
        # (an arm's prior is its first job even when two lanes submit at once; an executor's submit only
        # writes the work dir, it never waits for a slot).
        self._submitting = asyncio.Lock()
        self.running: dict[str, Any] = {}  # job id -> handle
        self.handed: dict[str, Reservation] = {}  # training key -> the reservation kept for its dev evaluation
        self.busy_seconds = 0.0
        self.halted = False  # nothing more at all, dev evaluations included: the run is being stopped

    async def run(self, key: str, meta: dict, make_job: Callable[[float], Job], wall_seconds: float, *,
                  training: bool, read: tuple[Path, ...] = (), started: Any = None,
                  hold: Reservation | None = None) -> JobResult | None:
        """One job in a slot (training) or on the evaluation lane, under a reservation: its own, or `hold`,
        the part of a training job's reservation kept for its dev evaluation (used even once the budget
        stops new jobs: a job that was started is always scored). `started` is set once it holds a slot."""
        lane, occupancy = self._training if training else self._evaluation, self.occupancy
        occupancy.queued += training
        try:
            await lane.acquire()
        finally:
            occupancy.queued -= training
        try:
            started and started.set()
            if self.halted or self.share.stopping and hold is None:
                hold and self.ledger.settle(hold, {"job_seconds": 0.0})
                return None
            if hold is None:
                hold, limit = await self.share.reserve(key, meta, wall_seconds, training)
                if hold is None:
                    return None
            else:
                limit = self.share.limit_of(hold)
            job = make_job(limit)
            if self.clock == "cpu":
                job = on_cpu_clock(job)
            if read:
                job = replace(job, read_paths=tuple(job.read_paths) + tuple(p for p in read if p not in job.read_paths))
            if training:
                occupancy.live[key] = (time.monotonic(), limit, limit + self.share.grace() + 1.0)
            occupancy.holding += 1
            try:
                return await self._submit(job, key, meta, hold, training=training)
            finally:
                occupancy.holding -= 1
                occupancy.live.pop(key, None)
        finally:
            lane.release()

    async def _submit(self, job: Job, key: str, meta: dict, hold: Reservation, training: bool = True) -> JobResult:
        async with self._submitting:
            handle = await self.executor.submit(job)
            self.running[handle.job_id] = handle
            self.events.emit(ev.JOB_STARTED, job_id=handle.job_id, wall_seconds=job.limits.wall_seconds,
                             cpu_seconds=job.limits.cpu_seconds,
                             command=list(job.command)[:6], reservation=hold.id,
                             reserved=hold.amounts.get("job_seconds"), devices=max(job.resources.gpus, 1), **meta)
        started = time.monotonic()
        try:
            result = await self.executor.wait(handle)
        except asyncio.CancelledError:
            # the run is being interrupted: stop the job and charge what it used before going down
            try:
                result = await asyncio.wait_for(asyncio.shield(self._cancel(handle)), self.share.grace() + 10.0)
                self._settle(hold, result, training)
            except (TimeoutError, asyncio.CancelledError):  # an executor that does not answer: charge the time
                self.ledger.settle(hold, {"job_seconds": min(time.monotonic() - started, hold.amounts["job_seconds"])})
                self.events.emit(ev.JOB_LOST, job_id=handle.job_id, key=key, agent=meta["agent"],
                                 parent=meta.get("parent"), reason="the executor did not stop the job in time")
            raise
        finally:
            self.running.pop(handle.job_id, None)
        self._settle(hold, result, training, key)
        return result

    async def _cancel(self, handle: Any) -> JobResult:
        await self.executor.cancel(handle)
        return await self.executor.wait(handle)

    def _settle(self, hold: Reservation, result: JobResult, training: bool, key: str = "") -> None:
        used = {"job_seconds": result.device_seconds}
        if training and key and result.ok:  # what was kept for its dev evaluation goes to the evaluation
            self.handed[key] = self.ledger.handover(hold, used, {"job_seconds": self.share.eval_hold()}, role="harness")
        else:
            self.ledger.settle(hold, used)
        if not training:  # how long an evaluation takes, on the clock it is limited by
            self.share.eval_walls.append(result.device_seconds if result.clock == "cpu" else result.wall_seconds)
        else:
            if result.clock == "cpu":  # how many wall seconds a CPU-second takes on this machine now
                self.share.timed(result.wall_seconds, result.device_seconds)
            if result.ok and result.summary().get("stopped") == "tokens":  # a starter reached its horizon
                self.share.reached_horizon(result.device_seconds)
        self.occupancy.handed_back()
        if training:  # the busy share is of the training slots; evaluations run on a lane of their own
            self.busy_seconds += result.wall_seconds
        self._keep(result)

    def _keep(self, result: JobResult) -> None:
        """Move the job's work dir under the run's jobs/ folder (if the executor put it elsewhere)."""
        target = self.jobs_dir / result.job_id
        if Path(result.workdir).resolve() != target.resolve() and Path(result.workdir).exists():
            shutil.move(str(result.workdir), target)
        (target / "result.json").write_text(json.dumps(
            {"job_id": result.job_id, "status": result.status.value, "exit_code": result.exit_code,
             "wall_seconds": result.wall_seconds, "device_seconds": result.device_seconds,
             "cpu_seconds": result.cpu_seconds, "clock": result.clock,
             "peak_memory_bytes": result.peak_memory_bytes, "devices": list(result.devices),
             "error": result.error, "metadata": dict(result.metadata)}, indent=2, default=str))

    async def halt(self) -> None:
        """Stop every job now (the wall clock ran out, or the run was interrupted)."""
        self.halted = True
        for handle in list(self.running.values()):
            await self.executor.cancel(handle)
