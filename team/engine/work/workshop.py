"""The team's hands: run a solution (train.py) through the sandbox under the budget, score its final model
with the harness's own dev evaluation, turn both into the `JobOutcome` roles reason about, and score merged
models the same way. Every finished job is logged with a stable key, so a resumed run reuses it instead of
running it twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from groundwork.errors import BudgetExhausted
from roles.context import JobOutcome
from sandbox import METRICS_FILE, Executor, Job, JobResult, JobStatus
from sandbox.workdir import tail_text
from tasks.recipe import WALL_FRACTION as RECIPE_STOPS_AT  # a recipe stops itself at this share
from team.engine.records import catalog as ev
from team.engine.records.events import EventLog
from team.engine.records.ledger import Ledger

__all__ = ["Workshop", "job_key", "outcome_of", "MIN_JOB_SECONDS"]

MIN_JOB_SECONDS = 8.0  # a job with less time than this left is not started


def job_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _curve(metrics: tuple[dict, ...], name: str) -> tuple[tuple[int, float], ...]:
    rows = [(int(m.get("step", i)), float(m[name])) for i, m in enumerate(metrics) if name in m]
    return tuple((s, v) for s, v in rows if math.isfinite(v) or name == "train_loss")


def outcome_of(result: JobResult, dev_eval: JobResult | None, config: Mapping[str, Any], seed: int, attempt: int,
               node: str = "") -> JobOutcome:
    """What the team may judge a finished solution job by: its status and the HARNESS's dev score of its
    final_model/ (the job's own printed numbers are kept as `reported_dev`, and flagged when they differ)."""
    from tasks import solution_outcome

    o = solution_outcome(result, dev_eval)
    flags = tuple(f"{f['flag']}: {f['reason']}" for f in o.flags)
    return JobOutcome(job_id=result.job_id, config=dict(config), seed=seed, status=o.status,
                      dev_accuracy=o.harness_dev if o.status == "ok" else None,
                      dev_curve=_curve(result.metrics, "dev_accuracy"), loss_curve=_curve(result.metrics, "train_loss"),
                      error=o.error, seconds=round(result.wall_seconds, 3), attempt=attempt, reported_dev=o.reported_dev,
                      node=node, flags=flags, stderr_tail=o.stderr_tail[-1500:])


@dataclass
class Workshop:
    """Submits jobs for the whole team: one slot semaphore, the ledger, the event log, the job memo."""

    executor: Executor
    prepared: Any  # tasks.PreparedTask
    ledger: Ledger
    events: EventLog
    jobs_dir: Path
    capacity: int
    cpu_threads: int = 1
    gpus: int = 0
    memo: dict[str, dict] = field(default_factory=dict)  # job key -> logged finish row
    running: dict[str, Any] = field(default_factory=dict)  # job id -> handle
    stopping: bool = False  # no new jobs: the budget cannot give one
    halted: bool = False  # nothing more at all, dev evaluations included: the run is being stopped

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.capacity)
        self._queued = 0  # recipe jobs waiting for a slot
        self._live: dict[str, tuple[float, float, float]] = {}  # key -> (started, limit, reserved seconds)
        # Dev evaluations of merged models take seconds: they get their own lane instead of queueing
        # behind minute-long training jobs (a merge would otherwise hold up every later review).
        self._eval_lane = asyncio.Semaphore(1)
        self._returned = asyncio.Event()
        self._holding = 0  # jobs (training and evaluation) holding a reservation right now
        self._handed: dict[str, Any] = {}  # training key -> the reservation kept for its dev evaluation
        self._eval_walls: list[float] = []  # wall seconds of this session's evaluations
        self.busy_seconds = 0.0
        # Submissions one at a time, in the order they came: job_started rows then follow the decisions
        # (an arm's prior is its first job even when two lanes submit at once; an executor's submit only
        # writes the work dir, it never waits for a slot).
        self._submitting = asyncio.Lock()

    async def run_solution(self, key: str, solution: Any, config: Mapping[str, Any], seed: int, wall_seconds: float,
                           *, agent: str, role: str, round: int, attempt: int, parent: str | None, node: str = "",
                           started: asyncio.Event | None = None) -> JobOutcome | None:
        """Run one solution (train.py in the sandbox), then score its final_model/ with the harness's own dev
        evaluation (or reuse a finished result). None when the budget or the run stopped it. `started` is
        set once the job holds a slot (or needs none)."""
        if "outcome" in self.memo.get(key, {}):
            started and started.set()
            return JobOutcome(**_outcome_fields(self.memo[key]["outcome"]))
        from tasks import solution_job

        meta = {"agent": agent, "role": role, "round": round, "key": key, "parent": parent, "node": node,
                "config": {**config, "seed": seed}}
        result = self._restored(self.memo.get(key, {}).get("trained"))
        if result is not None and result.ok:  # trained before a crash, never scored: score what it left
            started and started.set()
        else:
            result = await self._run(key, meta, lambda secs: solution_job(self.prepared, solution, wall_seconds=secs,
                                     cpu_threads=self.cpu_threads, gpus=self.gpus, metadata=meta), wall_seconds,
                                     started=started)
        if result is None:
            return None
        dev = await self._dev_of(key, result, meta, self._handed.pop(key, None))
        if self.halted and result.ok and (dev is None or not dev.ok):
            return None  # trained, but the run stopped before it was scored: the resumed run scores it
        outcome = outcome_of(result, dev, config, seed, attempt, node)
        self.events.emit(ev.JOB_FINISHED, key=key, job_id=result.job_id, agent=agent, role=role, round=round,
                         parent=parent, node=node, status=outcome.status, dev_accuracy=outcome.dev_accuracy,
                         reported_dev=outcome.reported_dev, device_seconds=result.device_seconds, outcome=asdict(outcome))
        return outcome

    async def _dev_of(self, key: str, result: JobResult, meta: dict, hold: Any = None) -> JobResult | None:
        """The harness's dev evaluation of a training job's final_model/ (None when it left none), on the
        part of the training job's reservation that was kept for it (`hold`), or on a new one when the job
        was trained by an earlier session."""
        from tasks import dev_eval_job
        from tasks.jobs import model_dir_problem

        model = self.jobs_dir / result.job_id / "final_model"
        meta = {**meta, "key": f"{key}:dev", "role": "harness", "kind": "dev_eval", "of": result.job_id}
        done = self._restored(self.memo.get(meta["key"], {}).get("job_id"))
        if not result.ok or model_dir_problem(model) is not None or done is not None:
            hold and self.ledger.settle(hold, {"job_seconds": 0.0})
            return done  # evaluated before a crash (its row is on record): read what it wrote
        dev = await self._run(f"{key}:dev", meta, lambda secs: dev_eval_job(self.prepared, model, wall_seconds=secs),
                              self._eval_seconds(), read=(model,), lane=self._eval_lane, hold=hold)
        if dev is not None:
            self.events.emit(ev.JOB_FINISHED, key=meta["key"], job_id=dev.job_id, agent=meta["agent"], role="harness",
                             round=meta["round"], parent=meta["parent"], status=dev.status.value, kind="dev_eval",
                             of=result.job_id, device_seconds=dev.device_seconds)
        return dev

    def _restored(self, job_id: str | None) -> JobResult | None:
        """A finished job's result read back from its folder under jobs/ (None when it is not there)."""
        folder = self.jobs_dir / str(job_id)
        if not job_id or not (folder / "result.json").exists():
            return None
        saved = json.loads((folder / "result.json").read_text())
        metrics = folder / METRICS_FILE
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.exists() else []
        return JobResult(job_id=saved["job_id"], status=JobStatus(saved["status"]), exit_code=saved.get("exit_code"),
                         metrics=tuple(r for r in rows if isinstance(r, dict)), workdir=folder,
                         wall_seconds=float(saved.get("wall_seconds") or 0.0),
                         device_seconds=float(saved.get("device_seconds") or 0.0),
                         peak_memory_bytes=saved.get("peak_memory_bytes"), stdout_tail=tail_text(folder / "stdout.log"),
                         stderr_tail=tail_text(folder / "stderr.log"), devices=tuple(saved.get("devices") or ()),
                         metadata=saved.get("metadata") or {}, error=saved.get("error") or "")

    def _eval_seconds(self) -> float:
        """The time limit of a dev evaluation: three times the slowest this session has seen (a third of the
        cap before any has run), within [4 s, cap]. It is kept small so that the reservation a training job
        holds for its evaluation never starves the jobs near the end of the budget."""
        cap = 60.0 if self.prepared.task.kind == "hf" else 20.0
        return min(max(3.0 * max(self._eval_walls, default=cap / 9), 4.0), cap)

    def _eval_hold(self) -> float:
        """What a dev evaluation reserves: its limit, the grace period past it, and a second to stop."""
        return self._eval_seconds() + self._grace() + 1.0

    async def dev_score(self, key: str, model_dir: Path, *, round: int, agent: str = "editor",
                        parent: str | None = None) -> float | None:
        """The harness's own dev accuracy of a model dir (used to score soups)."""
        if key in self.memo:
            return self.memo[key].get("dev_accuracy")
        from tasks import dev_eval_job

        meta = {"agent": agent, "role": "editor", "round": round, "key": key, "parent": parent}
        result = await self._run(key, meta, lambda secs: dev_eval_job(self.prepared, model_dir, wall_seconds=secs),
                                 self._eval_seconds(), read=(model_dir,), lane=self._eval_lane)
        if result is None:
            return None
        score = _read_accuracy(result)
        self.events.emit(ev.JOB_FINISHED, key=key, job_id=result.job_id, agent=agent, role="editor", round=round,
                         parent=parent, status=result.status.value, dev_accuracy=score,
                         device_seconds=result.device_seconds, kind="dev_eval")
        if result.ok:
            self.memo[key] = {"dev_accuracy": score}  # the same merge proposed again is not scored again
        return score

    async def _run(self, key: str, meta: dict, make_job, wall_seconds: float, read: tuple[Path, ...] = (),
                   started: asyncio.Event | None = None, lane: asyncio.Semaphore | None = None,
                   hold: Any = None) -> JobResult | None:
        """One job in a slot (training) or on the evaluation lane, under a reservation: its own, or `hold`,
        the part of a training job's reservation kept for its dev evaluation (used even once the budget
        stops new jobs: a job that was started is always scored)."""
        training = lane is None
        self._queued += training
        try:
            await (lane or self._slots).acquire()
        finally:
            self._queued -= training
        try:
            started and started.set()
            if self.halted or self.stopping and hold is None:
                hold and self.ledger.settle(hold, {"job_seconds": 0.0})
                return None
            if hold is None:
                hold, limit = await self._reserve(key, meta, wall_seconds, training)
                if hold is None:
                    return None
            else:
                limit = max(min(hold.amounts.get("job_seconds", 0.0), self.ledger.wall_left()) - self._grace() - 1.0, 1.0)
            job = make_job(limit)
            if read:
                job = _with_reads(job, read)
            if training:
                self._live[key] = (time.monotonic(), limit, limit + self._grace() + 1.0)
            self._holding += 1
            try:
                return await self._submit(job, key, meta, hold, training=training)
            finally:
                self._holding -= 1
                self._live.pop(key, None)
        finally:
            (lane or self._slots).release()

    async def _reserve(self, key: str, meta: dict, wall_seconds: float, training: bool) -> tuple[Any, float | None]:
        """The job's reservation and time limit (None, None when the budget cannot give them). A training
        job's reservation also holds its dev evaluation's, handed to the evaluation when training ends."""
        limit = await self._wait_for_budget(key, wall_seconds, training=training)
        if limit is None:
            return None, None
        devices = max(self.gpus, 1) if training else 1
        seconds = (limit + self._grace() + 1.0) * devices + (self._eval_hold() if training else 0.0)
        try:
            return self.ledger.reserve({"job_seconds": seconds, "wall": 0.0}, agent=meta["agent"],
                                       role=meta["role"]), limit
        except BudgetExhausted as exc:
            self.stop_new_jobs()
            self.events.emit(ev.BUDGET_STOP, reason=str(exc), key=key)
            return None, None

    def _grace(self) -> float:
        return float(self.executor.term_grace)

    async def _wait_for_budget(self, key: str, wanted: float, training: bool) -> float | None:
        """The job's limit; while running jobs hold the budget it lacks, wait for them to hand it back."""
        floor = MIN_JOB_SECONDS + self._grace() + 1.0
        if wanted < floor and training:
            self.events.emit(ev.JOB_RAISED, key=key, asked=round(wanted, 3), to=floor,
                             reason=f"a job needs at least {MIN_JOB_SECONDS:g} s to train anything")
        while True:
            limit = self._limit(key, wanted, training, final=not self._holding)
            if limit is not None or not self._holding or self.stopping:
                return limit
            await self._returned.wait()

    def _limit(self, key: str, wanted: float, training: bool, final: bool = True) -> float | None:
        """The job's own time limit: the request (raised to the useful minimum), within what the budget
        has left. None, with a `budget_stop` row, only when the ledger cannot give the minimum."""
        floor = MIN_JOB_SECONDS + self._grace() + 1.0  # a job past its limit gets SIGTERM and a grace period
        devices = max(self.gpus, 1) if training else 1
        scoring = self._eval_hold() if training else 0.0  # a training job's dev evaluation is part of it
        left = (self.ledger.left("job_seconds") - scoring) / devices
        seconds = min(max(wanted, floor), self.ledger.wall_left() - 2.0 - scoring, left)
        if training:
            seconds = min(seconds, self._fair_share(left, max(wanted, floor)))
        limit = seconds - self._grace() - 1.0
        if limit < MIN_JOB_SECONDS - 1e-6:
            if not final:
                return None
            self.stop_new_jobs()
            self.events.emit(ev.BUDGET_STOP, reason="the budget has no time left for another job", key=key,
                             job_seconds_left=self.ledger.left("job_seconds"), wall_left=self.ledger.wall_left())
            return None
        return limit

    def _fair_share(self, left: float, wanted: float) -> float:
        """Near the end of the job-seconds budget, split what is left between this job and the queued jobs
        that slots about to free up will start, instead of one job taking it all while a slot idles.
        Running recipe jobs stop at 85% of their limit, so what they will hand back counts as left."""
        if left >= 2 * wanted or not self._queued:
            return left
        now = time.monotonic()
        refund = sum(max(reserved - limit * RECIPE_STOPS_AT - 2.0, 0.0) for _, limit, reserved in self._live.values())
        ending = sum(start + limit * RECIPE_STOPS_AT - now < MIN_JOB_SECONDS for start, limit, _ in self._live.values())
        share = (left + refund) / (1 + min(ending, self._queued))
        return share if share >= 2 * MIN_JOB_SECONDS else left  # never cut the rest into useless pieces

    async def _submit(self, job: Job, key: str, meta: dict, hold, training: bool = True) -> JobResult:
        async with self._submitting:
            handle = await self.executor.submit(job)
            self.running[handle.job_id] = handle
            self.events.emit(ev.JOB_STARTED, job_id=handle.job_id, wall_seconds=job.limits.wall_seconds,
                             command=list(job.command)[:6], reservation=hold.id,
                             reserved=hold.amounts.get("job_seconds"), devices=max(job.resources.gpus, 1), **meta)
        started = time.monotonic()
        try:
            result = await self.executor.wait(handle)
        except asyncio.CancelledError:
            # the run is being interrupted: stop the job and charge what it used before going down
            try:
                result = await asyncio.wait_for(asyncio.shield(self._cancel(handle)), self._grace() + 10.0)
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

    def _settle(self, hold: Any, result: JobResult, training: bool, key: str = "") -> None:
        used = {"job_seconds": result.device_seconds}
        if training and key and result.ok:  # what was kept for its dev evaluation goes to the evaluation
            self._handed[key] = self.ledger.handover(hold, used, {"job_seconds": self._eval_hold()}, role="harness")
        else:
            self.ledger.settle(hold, used)
        if not training:
            self._eval_walls.append(result.wall_seconds)
        self._returned.set()  # a job handed back what it did not use: waiting jobs look again
        self._returned = asyncio.Event()
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
             "peak_memory_bytes": result.peak_memory_bytes, "devices": list(result.devices),
             "error": result.error, "metadata": dict(result.metadata)}, indent=2, default=str))

    def stop_new_jobs(self) -> None:
        """No new jobs from now on (the budget cannot give one); running ones finish and are scored."""
        self.stopping = True

    async def stop(self) -> None:
        """Stop every job now (the wall clock ran out, or the run was interrupted)."""
        self.stopping = self.halted = True
        for handle in list(self.running.values()):
            await self.executor.cancel(handle)


def _with_reads(job: Job, extra: tuple[Path, ...]) -> Job:
    from dataclasses import replace

    return replace(job, read_paths=tuple(job.read_paths) + tuple(p for p in extra if p not in job.read_paths))


def _read_accuracy(result: JobResult) -> float | None:
    if not result.ok:
        return None
    for row in reversed(result.metrics):
        if "accuracy" in row:
            return float(row["accuracy"])
    path = Path(result.workdir) / "dev_eval.json"
    if path.exists():
        return float(json.loads(path.read_text())["accuracy"])
    value = result.summary().get("accuracy") or result.summary().get("dev_accuracy")
    return float(value) if value is not None else None


def _outcome_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["dev_curve"] = tuple(tuple(p) for p in out.get("dev_curve", ()))
    out["loss_curve"] = tuple(tuple(p) for p in out.get("loss_curve", ()))
    return out


def merge_dirs(model_dirs: list[Path], out_dir: Path) -> Path:
    """Uniform weight average of fine-tuned checkpoints that share the base (blocking: run in a thread)."""
    from tasks import merge_models

    if out_dir.exists():
        shutil.rmtree(out_dir)
    if len(model_dirs) == 1:
        shutil.copytree(model_dirs[0], out_dir)
        return out_dir
    return merge_models(model_dirs, out_dir)
