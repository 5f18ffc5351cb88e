"""The job memo: every job earlier sessions (and this one) finished, by its stable key, so that a resumed
run reuses a finished job instead of running it twice — a trained and scored job's outcome, a job trained
before a crash but never scored (its model is scored, not trained again), a dev evaluation that finished,
a merged model's dev score — and a finished job's result read back from its folder under jobs/.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roles.context import JobOutcome
from sandbox import METRICS_FILE, JobResult, JobStatus
from sandbox.workdir import tail_text

__all__ = ["JobMemo"]


@dataclass
class JobMemo:
    jobs_dir: Path
    rows: dict[str, dict] = field(default_factory=dict)  # job key -> its finish row (team.engine.run.restore.memos)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def outcome(self, key: str) -> JobOutcome | None:
        """The outcome of a job trained and scored before."""
        row = self.rows.get(key, {})
        return JobOutcome(**_outcome_fields(row["outcome"])) if "outcome" in row else None

    def trained(self, key: str) -> JobResult | None:
        """The training job of `key` that finished before the run stopped, never scored (None: none)."""
        return self.restored(self.rows.get(key, {}).get("trained"))

    def evaluated(self, key: str) -> JobResult | None:
        """The dev evaluation `key` (a training key + ':dev') that finished before (None: none)."""
        return self.restored(self.rows.get(key, {}).get("job_id"))

    def score(self, key: str) -> tuple[bool, float | None]:
        """(known, the merged model's dev score) for a dev evaluation of a merged model."""
        return (key in self.rows, self.rows[key].get("dev_accuracy") if key in self.rows else None)

    def keep_score(self, key: str, score: float | None) -> None:
        self.rows[key] = {"dev_accuracy": score}  # the same merge proposed again is not scored again

    def evaluation_walls(self) -> list[float]:
        """How long the dev evaluations earlier sessions finished took, on the clock they were limited by (their
        result.json)."""
        walls = []
        for row in self.rows.values():
            path = self.jobs_dir / str(row.get("job_id")) / "result.json"
            if row.get("kind") == "dev_eval" and row.get("job_id") and path.exists():
                saved = json.loads(path.read_text())
                walls.append(float(saved.get("device_seconds" if saved.get("clock") == "cpu" else "wall_seconds") or 0.0))
        return walls

    def horizon_costs(self) -> list[float]:
        """What the training jobs earlier sessions finished at their horizon used (`stopped: tokens` in their
        summary; their result.json): a resumed run knows what a job needs to reach its horizon, and stops where
        the run it continues stopped instead of starting a job the budget cannot carry there."""
        costs = []
        for row in self.rows.values():
            if row.get("kind") == "dev_eval":
                continue
            result = self.restored(row.get("trained") or row.get("job_id"))
            if result is not None and result.ok and result.summary().get("stopped") == "tokens":
                costs.append(result.device_seconds)
        return costs

    def restored(self, job_id: str | None) -> JobResult | None:
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
                         metadata=saved.get("metadata") or {}, error=saved.get("error") or "",
                         cpu_seconds=saved.get("cpu_seconds"), clock=saved.get("clock") or "wall")


def _outcome_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["dev_curve"] = tuple(tuple(p) for p in out.get("dev_curve", ()))
    out["loss_curve"] = tuple(tuple(p) for p in out.get("loss_curve", ()))
    return out
