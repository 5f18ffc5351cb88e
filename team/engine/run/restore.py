"""Resume rules, one of each, for every kind of run (a team, a comparison cell, a noise-floor seed):

- wall clock: earlier sessions' active seconds, from each session's `team_start` to its `team_end` (or
  its last row, when it was killed);
- spend: every settled reservation is charged what was used; a reservation a dead session left open is
  charged what it can have used — a job from its start to its last sign of life (the later of its own
  last output and the dead session's last row), never more than its reservation; a reserved job that
  never started, nothing; a model call, its whole reservation (the provider may have billed it);
- memos: finished jobs by key and recorded model calls by call id, so nothing finished runs twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from team.engine.records import catalog as ev
from team.engine.records.ledger import Ledger

__all__ = ["previous_wall", "restore_spend", "memos", "sessions"]


def sessions(rows: list[dict]) -> list[list[dict]]:
    """Rows split at each `session_start`."""
    out: list[list[dict]] = []
    for row in rows:
        if row.get("event") == ev.SESSION_START or not out:
            out.append([])
        out[-1].append(row)
    return out


def previous_wall(rows: list[dict]) -> float:
    """Active team seconds of earlier sessions: from each `team_start` to its `team_end` (a session killed
    before it ended: to its last row)."""
    total = 0.0
    for part in sessions(rows):
        start = next((r["ts"] for r in part if r.get("event") == ev.TEAM_START), None)
        end = next((r["ts"] for r in part if r.get("event") == ev.TEAM_END), part[-1].get("ts", start))
        if start is not None:
            total += max(end - start, 0.0)
    return total


def restore_spend(ledger: Ledger, rows: list[dict], jobs_dir: Path) -> list[dict]:
    """Charge what earlier sessions spent; returns one line per reservation a crash left open."""
    interrupted = []
    for part in sessions(rows):
        started = {r["reservation"]: r for r in part if r.get("event") == ev.JOB_STARTED and "reservation" in r}
        open_: dict[Any, dict] = {}
        for row in part:
            if row.get("event") != ev.BUDGET:
                continue
            if row.get("change") == "reserve":
                open_[row.get("reservation")] = row
            elif row.get("change") == "settle":
                open_.pop(row.get("reservation"), None)
                ledger.charge(row.get("used", {}), agent=row.get("agent", ""), role=row.get("role", ""))
        last_row = part[-1].get("ts", 0.0) if part else 0.0
        for rid, row in open_.items():
            used = _used(row, started.get(rid), last_row, jobs_dir)
            ledger.charge(used, agent=row.get("agent", ""), role=row.get("role", ""))
            interrupted.append({"reservation": rid, "agent": row.get("agent"), "reserved": row.get("amounts", {}),
                                "charged": used, "job_id": (started.get(rid) or {}).get("job_id")})
    return interrupted


def _used(reserve: dict, started: dict | None, last_row: float, jobs_dir: Path) -> dict[str, float]:
    amounts = dict(reserve.get("amounts", {}))
    if "job_seconds" not in amounts:
        return amounts  # a model call: charged as reserved
    if started is None:
        return {"job_seconds": 0.0}  # reserved, never started
    devices = float(started.get("devices") or 1)
    alive = max(last_row, _last_output(jobs_dir / str(started.get("job_id"))))
    seconds = max(alive - float(started["ts"]), 0.0) * devices
    return {"job_seconds": round(min(seconds, float(amounts["job_seconds"])), 3)}


def _last_output(workdir: Path) -> float:
    """The newest modification time of the job's own logs and metrics (0 when it wrote none)."""
    times = [p.stat().st_mtime for p in _logs(workdir) if p.is_file()]
    return max(times, default=0.0)


def _logs(workdir: Path) -> Iterable[Path]:
    return (workdir / name for name in ("stdout.log", "stderr.log", "metrics.jsonl"))


def memos(rows: list[dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(model calls by call id -> recorded output, finished jobs by key -> their finish row).

    A training job whose outcome row was never written (the run died or was stopped after it started) is
    remembered as `{"trained": job_id}` under its key: when its folder shows it finished training, the
    resumed run scores the model it left instead of training it again (workshop.run_solution)."""
    calls = {r["call"]: r["output"] for r in rows if r.get("event") == ev.MODEL_CALL}
    jobs = {r["key"]: r for r in rows if r.get("event") == ev.JOB_FINISHED and "key" in r
            and r.get("status") != "cancelled"}  # a job the run's stop cancelled runs again
    for r in rows:
        key = str(r.get("key", ""))
        if r.get("event") == ev.JOB_STARTED and r.get("kind") == "dev_eval" and r.get("of") and key.endswith(":dev"):
            jobs[key.removesuffix(":dev")] = jobs.get(key.removesuffix(":dev")) or {"trained": r["of"]}
        elif r.get("event") == ev.JOB_STARTED and "node" in r and not r.get("kind") and key and r.get("job_id"):
            if "outcome" not in jobs.get(key, {}):
                jobs[key] = {"trained": r["job_id"]}  # the latest start of this key
    return calls, jobs
