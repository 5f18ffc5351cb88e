"""What a run directory says, gathered once for the report: its jobs (training, the harness's dev evaluations,
the editor's merge evaluations) with the slot each ran on and the logs it left, and its tree of attempts
with each node's scores, verdicts and flags. Read from events.jsonl, result.json, manifest.json, jobs/<id>/
and tree/ alone, so a report can be rebuilt from any run folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from team.engine.records.events import read_events

__all__ = ["Job", "Node", "RunFacts", "read_run", "LOGS"]

LOGS = ("stdout.log", "stderr.log", "result.json")  # what a job folder may hold for a reader, in link order


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str  # "training", "dev_eval" (the harness scores a training job) or "merge_eval" (the editor's merge)
    agent: str  # the replica that asked for it (for a dev evaluation: whose job it scores)
    node: str | None
    round: int | None
    start: float  # seconds since the run began
    seconds: float
    status: str
    slot: str  # the device the job ran on ("cpu:0"; "cpu:0 ·2" for a second job on it at once), else "lane n"
    dev: float | None = None
    of: str | None = None  # the training job a dev evaluation scores
    config: dict = field(default_factory=dict)  # the knobs it trained with, its seed among them
    curve: tuple[tuple[float, float], ...] = ()  # (step, dev accuracy) as the job reported it
    logs: tuple[str, ...] = ()  # run-relative paths of the files the job left for a reader


@dataclass(frozen=True)
class Node:
    id: str
    parent: str | None
    operator: str
    agent: str | None
    round: int | None
    operators: tuple[str, ...] = ()
    status: str = "-"
    harness_dev: float | None = None
    reported_dev: float | None = None
    job_id: str | None = None
    verdicts: tuple[tuple[str, str], ...] = ()  # (decision, critic replica)
    flags: tuple[str, ...] = ()


@dataclass
class RunFacts:
    run_dir: Path
    rows: list[dict]
    result: dict
    manifest: dict
    jobs: list[Job]
    nodes: dict[str, Node]
    final_node: str | None
    starter_config: dict = field(default_factory=dict)

    @property
    def training(self) -> list[Job]:
        return [j for j in self.jobs if j.kind == "training"]

    def job(self, job_id: str | None) -> Job | None:
        return next((j for j in self.jobs if j.job_id == job_id), None)


def read_run(run_dir: Path) -> RunFacts:
    run_dir = Path(run_dir)
    rows = read_events(run_dir / "events.jsonl")
    result, manifest = _load(run_dir / "result.json"), _load(run_dir / "manifest.json")
    jobs = _jobs(run_dir, rows)
    knobs = {k for j in jobs for k in j.config}
    starter = {k: v for k, v in _starter_config(run_dir).items() if k in knobs}
    return RunFacts(run_dir, rows, result, manifest, jobs, _nodes(rows), _final_node(rows, result), starter)


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _kind(row: dict) -> str:
    if row.get("kind") != "dev_eval":
        return "training"
    return "dev_eval" if row.get("role") == "harness" or str(row.get("key", "")).endswith(":dev") else "merge_eval"


def _jobs(run_dir: Path, rows: list[dict]) -> list[Job]:
    """Each job once (a resumed session may restart one: its last start counts), in the order it started."""
    t0 = rows[0]["ts"] if rows else 0.0
    started = {r["job_id"]: r for r in rows if r.get("event") == "job_started"}
    finished = {r["job_id"]: r for r in rows if r.get("event") == "job_finished"}
    jobs = [_job(run_dir, start, finished.get(job_id, {}), t0) for job_id, start in started.items()]
    jobs.sort(key=lambda j: j.start)
    return _lanes(jobs)


def _job(run_dir: Path, start: dict, end: dict, t0: float) -> Job:
    folder = run_dir / "jobs" / start["job_id"]
    kept = _load(folder / "result.json")
    seconds = kept.get("wall_seconds")
    if seconds is None:
        seconds = (end["ts"] - start["ts"]) if end else 0.0
    outcome = end.get("outcome") or {}
    config = {**(start.get("config") or {}), **(outcome.get("config") or {})}
    if outcome.get("seed") is not None:
        config["seed"] = outcome["seed"]
    return Job(job_id=start["job_id"], kind=_kind(start if start.get("kind") else {**start, **end}), agent=start.get("agent") or start.get("role") or "-",
               node=start.get("node"), round=start.get("round"), start=start["ts"] - t0, seconds=float(seconds),
               status=end.get("status") or kept.get("status") or "unfinished", slot=",".join(kept.get("devices") or []),
               dev=end.get("dev_accuracy"), of=start.get("of") or end.get("of"), config=config,
               curve=tuple((float(p[0]), float(p[1])) for p in outcome.get("dev_curve") or ()),
               logs=tuple(f"jobs/{start['job_id']}/{name}" for name in LOGS if (folder / name).is_file())
               + tuple(f"jobs/{start['job_id']}/eval/{p.name}" for p in sorted((folder / "eval").glob("*.eval"))))


def _lanes(jobs: list[Job]) -> list[Job]:
    """Each job on a lane of its slot: the first lane free at its start. A slot that ran two jobs at once
    gets a second lane ("cpu:0 ·2"); jobs whose folder names no device share lanes "lane 0", "lane 1"..."""
    free_at: dict[str, list[float]] = {}
    out = []
    for job in jobs:
        lanes = free_at.setdefault(job.slot, [])
        i = next((n for n, t in enumerate(lanes) if t <= job.start + 1e-9), len(lanes))
        lanes[i:i + 1] = [job.start + job.seconds]
        name = (job.slot if i == 0 else f"{job.slot} ·{i + 1}") if job.slot else f"lane {i}"
        out.append(job if name == job.slot else Job(**{**job.__dict__, "slot": name}))
    return out


def _nodes(rows: list[dict]) -> dict[str, Node]:
    """Each node once (a resumed session replays them), with its harness score, the verdicts on its job and
    any flag raised on it."""
    made: dict[str, dict] = {}
    scored: dict[str, dict] = {}
    for r in rows:
        if r.get("event") == "node":
            made.setdefault(r["id"], r)
        elif r.get("event") == "node_scored":
            scored[r["id"]] = r
    verdicts: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("event") == "verdict" and r.get("job_id"):
            verdicts.setdefault(r["job_id"], []).append(r)
    return {node_id: _node(row, scored.get(node_id, {}), verdicts) for node_id, row in made.items()}


def _node(row: dict, score: dict, verdicts: dict[str, list[dict]]) -> Node:
    on_job = verdicts.get(score.get("job_id") or "", [])
    flags = [f.get("flag", str(f)) if isinstance(f, dict) else str(f) for f in score.get("flags") or []]
    flags += [str(f.get("flag", f)) if isinstance(f, dict) else str(f) for v in on_job for f in v.get("flags") or []]
    return Node(id=row["id"], parent=row.get("parent_node"), operator=row.get("operator", "-"), agent=row.get("agent"),
                round=row.get("round"), operators=tuple(row.get("operators") or ()), status=score.get("status", "-"),
                harness_dev=score.get("harness_dev"), reported_dev=score.get("reported_dev"),
                job_id=score.get("job_id"), verdicts=tuple((v["decision"], v.get("agent", "critic")) for v in on_job),
                flags=tuple(dict.fromkeys(flags)))


def _final_node(rows: list[dict], result: dict) -> str | None:
    if result.get("final_node"):
        return result["final_node"]
    members = result.get("final_members") or []
    by_job = {r["job_id"]: r["id"] for r in rows if r.get("event") == "node_scored"}
    return by_job.get(members[0]) if members else None


def _starter_config(run_dir: Path) -> dict:
    """The starter program's knob constants, as a config (lower-case keys), to show each job's config as its
    changes from the starter."""
    from tasks.solutions import constants, load_solution

    try:
        return {k.lower(): v for k, v in constants(load_solution(run_dir / "tree" / "starter")).items()}
    except Exception:  # noqa: BLE001 - no starter kept (a run from before the tree): configs are shown whole
        return {}
