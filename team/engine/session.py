"""One team run, end to end: load the team and the task, prepare the task, assemble agents, executor,
budget and event log, run the runtime, then let the verifier score the final model on the sealed test
split and write result.json, the manifest and the report. `resume_run` continues a killed run from its
events.jsonl without losing or repeating a finished job.
"""

from __future__ import annotations

import asyncio
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from roles.library import builtin_roles, prompt_hash
from sandbox.errors import BudgetExhausted, ConfigError
from team.engine.ledger import Ledger, parse_budget
from team.engine.events import EventLog, read_events
from team.config.topology import Team, load_team

__all__ = ["RunOptions", "Hooks", "start_run", "resume_run", "effective_limits"]


@dataclass(frozen=True)
class Hooks:
    """Wrappers applied while assembling a run: `model(agent_name, model) -> model` and
    `executor(executor) -> executor` (fault injection in tests, instrumentation in studies)."""

    model: Any = None
    executor: Any = None


@dataclass(frozen=True)
class RunOptions:
    team: str = "research"
    task: str = ""  # "" = the default task
    out: str | None = None  # the run directory (default runs/<time>-<team>-<task>-s<seed>)
    seed: int = 0
    budget: str | None = None
    model: str | None = None  # override every agent's model
    api_base: str | None = None
    executor: str = "local"  # local | ray
    ray_address: str | None = None
    isolation: str = "auto"
    cpu_threads: int = 1
    gpus: int = 0  # GPUs per job
    record: str | None = None
    replay: str | None = None
    progress: bool = True
    attempts: int = 3  # model-call attempts before the scripted fallback
    job_seconds: float | None = None  # the time limit of one recipe job (default: the task's)
    extra: dict[str, Any] = field(default_factory=dict)


def effective_limits(team: Team, task: Any, budget: str | None) -> dict[str, float]:
    """The tighter of the task's and the team's limits for each resource; --budget overrides both."""
    from sandbox.units import parse_duration

    limits = dict(team.budget)
    for key, value in (task.budget or {}).items():
        if key in ("wall", "job_seconds"):
            seconds = parse_duration(value)
            limits[key] = min(limits.get(key, seconds), seconds)
    if budget:
        try:
            limits = parse_budget(budget, limits)
        except ValueError as exc:
            raise ConfigError(f"--budget: {exc}") from None
    return limits


def _run_dir(options: RunOptions, team: Team, task: Any) -> Path:
    if options.out:
        return Path(options.out).absolute()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs").absolute() / f"{stamp}-{team.name}-{task.name}-s{options.seed}"


def load_inputs(options: RunOptions) -> tuple[Team, Any]:
    from tasks import list_tasks, load_task

    team = load_team(options.team)
    task = load_task(options.task) if options.task else list_tasks()[0]
    return team, task


def start_run(options: RunOptions, *, hooks: Hooks | None = None) -> dict[str, Any]:
    """Run a team on a task; `hooks` (for library users and tests) wrap every model or the executor."""
    team, task = load_inputs(options)
    limits = effective_limits(team, task, options.budget)
    run_dir = _run_dir(options, team, task)
    if (run_dir / "events.jsonl").exists():
        raise ConfigError(f"{run_dir}:1: a run already exists here (use `synthteam resume {run_dir}`)")
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(options, team, task, limits, run_dir)
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return asyncio.run(_execute(run_dir, options, team, task, limits, memo=None, hooks=hooks))


def resume_run(run_dir: str | Path, *, hooks: Hooks | None = None) -> dict[str, Any]:
    run_dir = Path(run_dir).absolute()
    path = run_dir / "manifest.json"
    if not path.exists():
        raise ConfigError(f"{path}:1: not a run directory (no manifest.json)")
    manifest = json.loads(path.read_text())
    options = RunOptions(**{**manifest["options"], "out": str(run_dir)})
    team, task = load_inputs(options)
    if team.digest != manifest["team"]["digest"]:
        raise ConfigError(f"{team.path}:1: the team file changed since the run started; resume refuses to mix")
    return asyncio.run(_execute(run_dir, options, team, task, manifest["limits"], memo=read_events(
        run_dir / "events.jsonl"), hooks=hooks))


def _manifest(options: RunOptions, team: Team, task: Any, limits: dict, run_dir: Path) -> dict[str, Any]:
    from importlib.metadata import version

    versions = {}
    for pkg in ("synthteam", "torch", "pydantic", "litellm"):
        try:
            versions[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 - a missing package is just not listed
            versions[pkg] = None
    roles = {a.role.name: prompt_hash(a.role) for a in team.agents.values()}
    roles.update({n: prompt_hash(r) for n, r in builtin_roles().items() if n not in roles})
    return {"run_id": run_dir.name, "created": datetime.now(UTC).isoformat(), "options": asdict(options),
            "team": {"name": team.name, "path": str(team.path), "digest": team.digest},
            "task": {"name": task.name, "root": str(task.root), "digest": task.digest},
            "seed": options.seed, "limits": limits, "prompt_hashes": roles, "versions": versions,
            "python": platform.python_version(), "machine": platform.machine()}


async def _execute(run_dir: Path, options: RunOptions, team: Team, task: Any, limits: dict,
                   memo: list[dict] | None, hooks: Hooks | None = None) -> dict[str, Any]:
    from team.engine.assemble import assemble
    from team.views.report import write_report

    events = EventLog(run_dir / "events.jsonl", run=run_dir.name)
    offset = _previous_wall(memo or [])
    events.emit("session_start", resumed=memo is not None, wall_offset=offset)
    ledger = Ledger(limits=dict(limits), wall_offset=offset)
    _restore_spend(ledger, memo or [])
    ledger.on_change = lambda what, row: events.emit("budget", change=what, **row)
    started = time.monotonic()
    try:
        runtime, progress = await assemble(run_dir, options, team, task, ledger, events, memo or [],
                                           hooks or Hooks())
        ledger.start_clock()
        events.emit("team_start", limits=ledger.limits_out())
        await _run_with_wall(runtime, ledger, progress)
        result = await _verify(run_dir, task, runtime, ledger, events, options)
    finally:
        events.emit("session_end", seconds=round(time.monotonic() - started, 3))
        events.close()
    write_report(run_dir)
    return result


async def _run_with_wall(runtime: Any, ledger: Ledger, progress: Any) -> None:
    async def watchdog() -> None:
        await asyncio.sleep(max(ledger.wall_left(), 0.0))
        runtime.stop_reason = runtime.stop_reason or "wall-clock budget"
        await runtime.work.stop()

    dog = asyncio.create_task(watchdog())
    try:
        async with progress:
            await runtime.run()
    except BudgetExhausted as exc:
        runtime.stop_reason = f"budget: {exc}"
        await runtime.work.stop()
    finally:
        dog.cancel()


async def _verify(run_dir: Path, task: Any, runtime: Any, ledger: Ledger, events: EventLog,
                  options: RunOptions) -> dict[str, Any]:
    from tasks import verify

    final = run_dir / "final_model"
    events.emit("verify_start", model=str(final) if final.exists() else None)
    verdict = await asyncio.to_thread(verify, final if final.exists() else None, task, run_dir / "jobs")
    faults = [f for r in runtime.all_runners() for f in r.faults]
    result = {
        "run_id": run_dir.name, "team": runtime.team.name, "task": task.name, "seed": options.seed,
        "baseline_score": verdict["baseline_score"], "test_score": verdict["test_score"],
        "flags": verdict.get("flags", []), "n": verdict.get("n"),
        "dev_score": runtime.merger.final_dev, "final_members": list(runtime.merger.members),
        "budget_used": ledger.snapshot(), "budget_limits": ledger.limits_out(), "spend_by_role": ledger.per_role(),
        "backend": sorted({r.model.name if r.model.name == "scripted" else "litellm:" + r.model.name
                           for r in runtime.all_runners()}),
        "jobs": runtime.job_counts(), "faults": {"model_errors": len(faults), "fallbacks": runtime.fallbacks()},
        "stop_reason": runtime.stop_reason, "device_busy_share": runtime.busy_share(ledger),
        "device_slots": runtime.work.capacity,
    }
    (run_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
    events.emit("result", **{k: result[k] for k in ("baseline_score", "test_score", "flags", "dev_score")})
    return result


def _previous_wall(rows: list[dict]) -> float:
    """Active team seconds of earlier sessions: from each `team_start` to that session's last row."""
    total, start, last = 0.0, None, None
    for row in rows:
        if row.get("event") == "session_start":
            if start is not None and last is not None:
                total += last - start
            start = None
        elif row.get("event") == "team_start":
            start = row["ts"]
        last = row.get("ts", last)
    if start is not None and last is not None:
        total += last - start
    return total


def _restore_spend(ledger: Ledger, rows: list[dict]) -> None:
    """Charge what earlier sessions spent; a reservation a crash left open counts as fully used."""
    session, open_ = 0, {}
    for row in rows:
        if row.get("event") == "session_start":
            session += 1
        if row.get("event") != "budget":
            continue
        key = (session, row.get("reservation"))
        if row.get("change") == "reserve":
            open_[key] = row
        elif row.get("change") == "settle":
            open_.pop(key, None)
            ledger.charge(row.get("used", {}), agent=row.get("agent", ""), role=row.get("role", ""))
    for row in open_.values():
        ledger.charge(row.get("amounts", {}), agent=row.get("agent", ""), role=row.get("role", ""))
