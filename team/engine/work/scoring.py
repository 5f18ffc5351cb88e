"""Dev scoring: the harness's own dev evaluation of a training job's final_model/ (on the part of the job's
reservation kept for it), of a merged model (a soup), and what the team may judge a finished solution by
(`outcome_of`): its status and the harness's dev score, never the numbers the job printed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from roles.context import JobOutcome
from sandbox import JobResult
from team.engine.records import catalog as ev
from team.engine.records.events import EventLog
from team.engine.records.ledger import Ledger, Reservation
from team.engine.work.memo import JobMemo
from team.engine.work.slots import Slots

__all__ = ["DevScoring", "outcome_of"]


class DevScoring:
    def __init__(self, prepared: Any, slots: Slots, memo: JobMemo, ledger: Ledger, events: EventLog, jobs_dir: Path):
        self.prepared, self.slots, self.memo, self.ledger, self.events = prepared, slots, memo, ledger, events
        self.jobs_dir = jobs_dir

    async def of_training(self, key: str, result: JobResult, meta: dict, hold: Reservation | None = None
                          ) -> JobResult | None:
        """The harness's dev evaluation of a training job's final_model/ (None when it left none), on the
        part of the training job's reservation that was kept for it (`hold`), or on a new one when the job
        was trained by an earlier session."""
        from tasks import dev_eval_job
        from tasks.jobs import model_dir_problem

        model = self.jobs_dir / result.job_id / "final_model"
        meta = {**meta, "key": f"{key}:dev", "role": "harness", "kind": "dev_eval", "of": result.job_id}
        done = self.memo.evaluated(meta["key"])
        if not result.ok or model_dir_problem(model) is not None or done is not None:
            hold and self.ledger.settle(hold, {"job_seconds": 0.0})
            return done  # evaluated before a crash (its row is on record): read what it wrote
        dev = await self.slots.run(f"{key}:dev", meta, lambda secs: dev_eval_job(self.prepared, model, wall_seconds=secs),
                                   self.slots.share.eval_seconds(), training=False, read=(model,), hold=hold)
        if dev is not None:
            self.events.emit(ev.JOB_FINISHED, key=meta["key"], job_id=dev.job_id, agent=meta["agent"], role="harness",
                             round=meta["round"], parent=meta["parent"], status=dev.status.value, kind="dev_eval",
                             of=result.job_id, device_seconds=dev.device_seconds)
        return dev

    async def of_model(self, key: str, model_dir: Path, *, round: int, agent: str = "editor",
                       parent: str | None = None) -> float | None:
        """The harness's own dev accuracy of a model dir (used to score soups)."""
        known, score = self.memo.score(key)
        if known:
            return score
        from tasks import dev_eval_job

        meta = {"agent": agent, "role": "editor", "round": round, "key": key, "parent": parent}
        result = await self.slots.run(key, meta, lambda secs: dev_eval_job(self.prepared, model_dir, wall_seconds=secs),
                                      self.slots.share.eval_seconds(), training=False, read=(model_dir,))
        if result is None:
            return None
        score = _read_accuracy(result)
        self.events.emit(ev.JOB_FINISHED, key=key, job_id=result.job_id, agent=agent, role="editor", round=round,
                         parent=parent, status=result.status.value, dev_accuracy=score,
                         device_seconds=result.device_seconds, kind="dev_eval")
        if result.ok:
            self.memo.keep_score(key, score)
        return score


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


def _curve(metrics: tuple[dict, ...], name: str) -> tuple[tuple[int, float], ...]:
    rows = [(int(m.get("step", i)), float(m[name])) for i, m in enumerate(metrics) if name in m]
    return tuple((s, v) for s, v in rows if math.isfinite(v) or name == "train_loss")


def _read_accuracy(result: JobResult) -> float | None:
    """A merged model's dev score, read as the harness reads every dev evaluation (an Inspect task's from its
    .eval log); the harness job's own rows for executors that leave neither."""
    from tasks.jobs import read_dev_score

    if not result.ok:
        return None
    score, _ = read_dev_score(result)
    if score is not None:
        return score
    for row in reversed(result.metrics):
        if "accuracy" in row:
            return float(row["accuracy"])
    path = Path(result.workdir) / "dev_eval.json"
    if path.exists():
        return float(json.loads(path.read_text())["accuracy"])
    value = result.summary().get("accuracy") or result.summary().get("dev_accuracy")
    return float(value) if value is not None else None
