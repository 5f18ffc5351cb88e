"""The team's hands: run a solution (train.py) through the sandbox under the budget, score its final model
with the harness's own dev evaluation, turn both into the `JobOutcome` roles reason about, and score merged
models the same way. Every finished job is logged with a stable key, so a resumed run reuses it instead of
running it twice.

The workshop puts four parts together, one job each: the slots (work/slots.py), the budget's fair share of
job time (work/share.py), the job memo and restore (work/memo.py), and dev scoring (work/scoring.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from roles.context import JobOutcome
from sandbox import Executor
from team.engine.records import catalog as ev
from team.engine.records.events import EventLog
from team.engine.records.ledger import Ledger
from team.engine.work.memo import JobMemo
from team.engine.work.scoring import DevScoring, outcome_of
from team.engine.work.share import MIN_JOB_SECONDS, JobTime, Occupancy
from team.engine.work.slots import Slots

__all__ = ["Workshop", "job_key", "config_seed", "outcome_of", "merge_dirs", "MIN_JOB_SECONDS"]

SEED_RANGE = 1_000_000  # the built-in tasks' `seed` knob: 0..1000000


def job_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_seed(run_seed: int, config: Mapping[str, Any], defaults: Mapping[str, Any], salt: Any = 0) -> int:
    """The training seed of `config` in a run seeded `run_seed` (common random numbers): the same in every arm
    of a comparison cell, so two arms that run the same experiment train the same model and their paired
    difference measures their decisions, not the seed. `defaults` fill the knobs `config` leaves out; `salt`
    separates what must not repeat another's experiment (a second lab, a replica)."""
    full = {**defaults, **config}
    canon = sorted((k, repr(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else repr(v))
                   for k, v in full.items() if k != "seed")
    digest = hashlib.sha256(repr((int(run_seed), canon, salt)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_RANGE


@dataclass
class Workshop:
    """Submits jobs for the whole team and scores them: the slots, the job time the budget gives, the job
    memo, the harness's dev scoring."""

    executor: Executor
    prepared: Any  # tasks.PreparedTask
    ledger: Ledger
    events: EventLog
    jobs_dir: Path
    capacity: int
    cpu_threads: int = 1
    gpus: int = 0
    memo: dict[str, dict] = field(default_factory=dict)  # job key -> logged finish row (team.engine.run.restore)
    clock: str = "wall"  # "cpu": CPU jobs are limited and charged by their cgroup's CPU-seconds

    def __post_init__(self) -> None:
        self.jobs = JobMemo(self.jobs_dir, self.memo)
        self.share = JobTime(self.ledger, self.events, Occupancy(), lambda: float(self.executor.term_grace),
                             lambda: eval_cap(self.prepared.task), self.gpus)
        self.share.restore(self.jobs)  # a resumed run knows what earlier sessions' jobs took
        self.share.horizon = self.prepared is not None and _has_horizon(self.prepared.task)
        self.slots = Slots(self.executor, self.ledger, self.events, self.jobs_dir, self.capacity, self.share,
                           self.clock)
        self.scoring = DevScoring(self.prepared, self.slots, self.jobs, self.ledger, self.events, self.jobs_dir)

    @property
    def stopping(self) -> bool:
        """No new jobs: the budget cannot give one (running ones finish and are scored)."""
        return self.share.stopping

    @property
    def halted(self) -> bool:
        """Nothing more at all, dev evaluations included: the run is being stopped."""
        return self.slots.halted

    @property
    def running(self) -> dict[str, Any]:
        return self.slots.running

    @property
    def busy_seconds(self) -> float:
        return self.slots.busy_seconds

    async def run_solution(self, key: str, solution: Any, config: Mapping[str, Any], seed: int, wall_seconds: float,
                           *, agent: str, role: str, round: int, attempt: int, parent: str | None, node: str = "",
                           started: asyncio.Event | None = None) -> JobOutcome | None:
        """Run one solution (train.py in the sandbox), then score its final_model/ with the harness's own dev
        evaluation (or reuse a finished result). None when the budget or the run stopped it. `started` is
        set once the job holds a slot (or needs none)."""
        done = self.jobs.outcome(key)
        if done is not None:
            started and started.set()
            return done
        from tasks import solution_job

        meta = {"agent": agent, "role": role, "round": round, "key": key, "parent": parent, "node": node,
                "config": {**config, "seed": seed}}
        result = self.jobs.trained(key)
        if result is not None and result.ok:  # trained before a crash, never scored: score what it left
            started and started.set()
        else:
            result = await self.slots.run(key, meta, lambda secs: solution_job(
                self.prepared, solution, wall_seconds=secs, cpu_threads=self.cpu_threads, gpus=self.gpus, metadata=meta),
                wall_seconds, training=True, started=started)
        if result is None:
            return None
        dev = await self.scoring.of_training(key, result, meta, self.slots.handed.pop(key, None))
        if self.halted and result.ok and (dev is None or not dev.ok):
            return None  # trained, but the run stopped before it was scored: the resumed run scores it
        outcome = outcome_of(result, dev, config, seed, attempt, node)
        self.events.emit(ev.JOB_FINISHED, key=key, job_id=result.job_id, agent=agent, role=role, round=round,
                         parent=parent, node=node, status=outcome.status, dev_accuracy=outcome.dev_accuracy,
                         reported_dev=outcome.reported_dev, device_seconds=result.device_seconds, outcome=asdict(outcome))
        return outcome

    async def dev_score(self, key: str, model_dir: Path, *, round: int, agent: str = "editor",
                        parent: str | None = None) -> float | None:
        """The harness's own dev accuracy of a model dir (used to score soups)."""
        return await self.scoring.of_model(key, model_dir, round=round, agent=agent, parent=parent)

    def stop_new_jobs(self) -> None:
        """No new jobs from now on (the budget cannot give one); running ones finish and are scored."""
        self.share.stop_new_jobs()

    async def stop(self) -> None:
        """Stop every job now (the wall clock ran out, or the run was interrupted)."""
        self.share.stop_new_jobs()
        await self.slots.halt()


def merge_dirs(model_dirs: list[Path], out_dir: Path) -> Path:
    """Uniform weight average of fine-tuned checkpoints that share the base (blocking: run in a thread)."""
    from tasks import merge_models

    if out_dir.exists():
        shutil.rmtree(out_dir)
    if len(model_dirs) == 1:
        shutil.copytree(model_dirs[0], out_dir)
        return out_dir
    return merge_models(model_dirs, out_dir)


def _has_horizon(task: Any) -> bool:
    from tasks.jobs import job_tokens

    return job_tokens(task) is not None


def eval_cap(task: Any) -> float:
    """The longest one dev evaluation may take: the task's `evaluation.max_seconds`, else 300 s with vllm (its
    server starts in a minute or two), 60 s with a Hugging Face model, 20 s for a tiny one."""
    settings = getattr(task, "evaluation", None) or {}
    if settings.get("max_seconds"):
        return float(settings["max_seconds"])
    if settings.get("provider") == "vllm":
        return 300.0
    return 60.0 if task.kind == "hf" else 20.0
