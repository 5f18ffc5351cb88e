"""One run directory's lifecycle, for every kind of run (a team, a comparison cell, a noise-floor seed):
lock the directory, check what the run asks for, open or resume (manifest, event log, ledger, memos),
prepare the task, assemble the parts, run the team under the wall-clock watchdog and the interrupt
handlers, verify the final model on the sealed test split, and write one frozen `RunResult`.

An interrupt (Ctrl-C, SIGTERM) stops every job, settles every open reservation with what it used, and
leaves a directory `synthteam resume` continues; so does a SIGKILL, whose open reservations the next
session charges by what they can have used (team.engine.run.restore).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from groundwork.errors import ConfigError, SynthteamError
from roles.library import builtin_roles, prompt_hash
from team.config.topology import Team, load_team
from team.engine.records import catalog as ev
from team.engine.records.events import EventLog, read_events
from team.engine.records.ledger import Ledger
from team.engine.run import interrupts
from team.engine.run.assemble import Parts, assemble
from team.engine.run.lock import RunLock
from team.engine.run.options import Hooks, RunOptions, effective_limits, model_routes
from team.engine.run.preflight import (
    check_clock,
    check_cluster,
    check_devices,
    check_files,
    check_isolation,
    check_models,
)
from team.engine.run.restore import memos, previous_wall, restore_spend
from team.engine.run.result import RunResult
from team.engine.work.outcome import TeamOutcome

__all__ = ["Session", "Interrupted", "new_session", "start_session", "resume_session", "load_inputs", "RunResult", "run_dir_for"]

TEAM_COPY = "team.yaml"  # the team file as the run started, so that the folder resumes on its own
WIND_DOWN = 15.0  # seconds the team gets to finish its steps after the wall clock or an interrupt


class Interrupted(SynthteamError):
    """The run was stopped by a signal; its directory can be resumed."""

    def __init__(self, run_dir: Path, signum: int):
        self.run_dir, self.signum = run_dir, signum
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}: every job stopped and was charged what it used; continue "
                         f"with `synthteam resume {run_dir}`")


def load_inputs(options: RunOptions) -> tuple[Team, Any]:
    from tasks import load_task
    from tasks.jobs import with_horizon
    from tasks.spec import BUILTIN_TASKS

    team = load_team(options.team)
    task = load_task(options.task or BUILTIN_TASKS[0], provider=getattr(options, "provider", None))
    return team, with_horizon(task, getattr(options, "job_tokens", None))


def new_session(options: RunOptions, *, hooks: Hooks | None = None, observers: tuple = ()) -> Session:
    """A new run of a team on a task: its inputs loaded once and its run directory chosen once. Paths are
    made absolute, so that the run folder resumes from any working directory."""
    options = _absolute(options)
    team, task = load_inputs(options)
    limits = effective_limits(team, task, options.budget)
    run_dir = run_dir_for(options, team, task)
    check_run_dir(run_dir)
    return Session(run_dir, options, team, task, limits, resume=False, hooks=hooks, observers=observers)


def start_session(options: RunOptions, *, hooks: Hooks | None = None, observers: tuple = ()) -> RunResult:
    """A new run of a team on a task, in a new run directory."""
    return asyncio.run(new_session(options, hooks=hooks, observers=observers).run())


def run_dir_for(options: RunOptions, team: Team, task: Any) -> Path:
    """The run's folder: `--out`, else runs/<time>-<team>-<task>-s<seed> (absolute: the run resumes from anywhere)."""
    if options.out:
        return Path(options.out).absolute()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs").absolute() / f"{stamp}-{team.name}-{task.name}-s{options.seed}"


def check_run_dir(run_dir: Path) -> None:
    """A new run goes into a new or empty folder (never a file, another run, or someone's files)."""
    if (run_dir / "events.jsonl").exists():
        raise ConfigError(f"{run_dir}:1: a run already exists here (use `synthteam resume {run_dir}`)")
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}:1: --out names a file; give a new or empty folder for the run")
    if run_dir.is_dir() and any(p.name != ".lock" for p in run_dir.iterdir()):
        raise ConfigError(f"{run_dir}:1: --out names a folder that holds other files and is not a run; give a new "
                          "or empty folder")


def _absolute(options: RunOptions) -> RunOptions:
    from dataclasses import replace

    def path(value: str | None) -> str | None:
        return str(Path(value).absolute()) if value and Path(value).exists() else value

    return replace(options, team=path(options.team), task=path(options.task), replay=path(options.replay),
                   record=str(Path(options.record).absolute()) if options.record else None)


def resume_session(run_dir: str | Path, *, hooks: Hooks | None = None, observers: tuple = ()) -> RunResult:
    """Continue a killed or interrupted run without losing or repeating a finished job."""
    run_dir = Path(run_dir).absolute()
    manifest = read_manifest(run_dir)
    known = set(RunOptions.__dataclass_fields__)
    options = RunOptions(**{**{k: v for k, v in manifest["options"].items() if k in known}, "out": str(run_dir)})
    copy = run_dir / TEAM_COPY
    team, task = load_inputs(replace_team(options, str(copy)) if copy.exists() else options)
    if team.digest != manifest["team"]["digest"]:
        raise ConfigError(f"{team.path}:1: the team file changed since the run started; resume refuses to mix")
    session = Session(run_dir, options, team, task, manifest["limits"], resume=True, hooks=hooks,
                      observers=observers)
    return asyncio.run(session.run())


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest.json, or one line saying why it cannot be resumed from."""
    path = run_dir / "manifest.json"
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}:1: no such run folder")
    if not path.exists():
        raise ConfigError(f"{path}:1: not a run directory (no manifest.json)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: the manifest is not valid JSON ({exc.msg}); this run cannot be "
                          "resumed — start a new one") from None
    missing = [k for k in ("options", "team", "limits") if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise ConfigError(f"{path}:1: the manifest lacks {', '.join(missing)}; this run cannot be resumed — start "
                          "a new one")
    return manifest


def replace_team(options: RunOptions, team: str) -> RunOptions:
    from dataclasses import replace

    return replace(options, team=team)


class Session:
    def __init__(self, run_dir: Path, options: RunOptions, team: Team, task: Any, limits: dict, *, resume: bool,
                 hooks: Hooks | None = None, observers: tuple = ()):
        self.run_dir, self.options, self.team, self.task = Path(run_dir), options, team, task
        self.limits, self.resume, self.hooks, self.observers = dict(limits), resume, hooks or Hooks(), observers
        self.interrupted: int | None = None
        self.isolation = ""  # how this session's jobs ran (result.json)
        self.routes: dict[str, Any] = {}  # agent -> where its model calls go (resolved once, in run())

    async def run(self) -> RunResult:
        self.routes = model_routes(self.options, self.team)
        check_devices(self.options)  # refused before anything is written
        check_cluster(self.options)
        check_files(self.options)
        check_isolation(self.options, self.routes)
        self.options = replace(self.options, clock=check_clock(self.options))  # the manifest keeps it: resume too
        await asyncio.to_thread(check_models, self.options, self.team, self.routes)  # probes servers, may load litellm
        created = not self.run_dir.exists()
        try:
            return await self._locked()
        except ConfigError:
            if not self.resume and not _team_started(self.run_dir):  # a refused run leaves nothing behind
                _clear(self.run_dir, remove=created)
            raise

    async def _locked(self) -> RunResult:
        with RunLock(self.run_dir):
            rows = read_events(self.run_dir / "events.jsonl") if self.resume else []
            if not self.resume:
                (self.run_dir / "manifest.json").write_text(json.dumps(self._manifest(), indent=2, default=str))
                if self.team.path.is_file():
                    shutil.copyfile(self.team.path, self.run_dir / TEAM_COPY)
            events = EventLog(self.run_dir / "events.jsonl", run=self.run_dir.name)
            started = time.monotonic()
            try:
                return await self._session(events, rows)
            except BaseException as exc:
                events.emit(ev.SESSION_ERROR, error=f"{type(exc).__name__}: {exc}"[:500])
                raise
            finally:
                events.emit(ev.SESSION_END, seconds=round(time.monotonic() - started, 3),
                            interrupted=self.interrupted is not None)
                events.close()
                for observer in self.observers:
                    observer.close()

    async def _session(self, events: EventLog, rows: list[dict]) -> RunResult:
        from tasks import prepare_task

        ledger = Ledger(limits=dict(self.limits), wall_offset=previous_wall(rows))
        events.emit(ev.SESSION_START, resumed=self.resume, wall_offset=ledger.wall_offset)
        interrupted = restore_spend(ledger, rows, self.run_dir / "jobs")
        if interrupted:
            events.emit(ev.BUDGET_RESTORED, interrupted=interrupted, spent=ledger.snapshot())
        ledger.on_change = lambda what, row: events.emit(ev.BUDGET, change=what, **row)
        ended = _team_ended(rows)
        if ended is not None:  # the team had finished (its verification had not): only the verification is left
            self.isolation = str(ended.get("isolation") or "")
            return await self._verify(TeamOutcome.from_row(ended["outcome"]), ledger, events, dict(ended["spent"]))
        prepared = await asyncio.to_thread(prepare_task, self.task)
        parts = assemble(self.run_dir, self.options, self.team, self.task, prepared, ledger, events, memos(rows),
                         self.hooks, self.routes)
        self.isolation = str(getattr(parts.executor, "isolation", ""))
        if parts.executor.notice:
            events.emit(ev.ISOLATION_REDUCED, notice=parts.executor.notice)
            self.isolation += " (--no-isolation)" if self.options.isolation == "none" else " (bubblewrap unavailable)"
        for observer in self.observers:
            observer.start(self.run_dir, self.team, self.task, ledger, parts.backends)
            events.observers.append(observer.row)
        if hasattr(parts.executor, "prewarm"):
            parts.executor.prewarm()  # the warm worker (torch imported) starts while the team plans
        ledger.start_clock()
        events.emit(ev.TEAM_START, limits=ledger.limits_out(), backends=list(parts.backends), prior=self.options.prior)
        try:
            outcome = await self._drive(parts, ledger, events)
        finally:
            parts.runtime.tree.close()  # the node files the report reads (the runtime closes it when it ends)
            if hasattr(parts.executor, "close"):
                await parts.executor.close()
        spent = ledger.snapshot()  # the team's time ends here; verification is the harness's
        events.emit(ev.TEAM_END, spent=spent, stop_reason=outcome.stop_reason, outcome=asdict(outcome),
                    isolation=self.isolation)
        return await self._verify(outcome, ledger, events, spent)

    async def _drive(self, parts: Parts, ledger: Ledger, events: EventLog) -> TeamOutcome:
        runtime, work = parts.runtime, parts.workshop
        main = asyncio.create_task(runtime.run(), name="team")
        dog = asyncio.create_task(self._watchdog(ledger, runtime, main))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
                loop.add_signal_handler(signum, lambda s=signum: asyncio.ensure_future(self._interrupt(s, runtime, main)))
        # off the main thread (a cell side by side) the signal reaches it through team.engine.run.interrupts
        token = interrupts.register(loop, lambda s: asyncio.ensure_future(self._interrupt(s, runtime, main)))
        try:
            outcome = await main
        except asyncio.CancelledError:
            outcome = runtime.outcome()
        try:
            if self.interrupted is not None:
                await work.stop()
                events.emit(ev.INTERRUPTED, signal=signal.Signals(self.interrupted).name, spent=ledger.snapshot(),
                            open_reservations=len(ledger.open_reservations()))
                raise Interrupted(self.run_dir, self.interrupted)
            return outcome
        finally:
            dog.cancel()
            interrupts.unregister(token)
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                    loop.remove_signal_handler(signum)

    async def _watchdog(self, ledger: Ledger, runtime: Any, main: asyncio.Task) -> None:
        """At the wall-clock limit: stop every job, give the team WIND_DOWN seconds, then end it."""
        await asyncio.sleep(max(ledger.wall_left(), 0.0))
        runtime.note_stop("wall-clock budget")
        await runtime.work.stop()
        await _cancel_after(main, WIND_DOWN)

    async def _interrupt(self, signum: int, runtime: Any, main: asyncio.Task) -> None:
        if self.interrupted is not None:
            return
        self.interrupted = signum
        runtime.note_stop(f"interrupted ({signal.Signals(signum).name})")
        await runtime.work.stop()
        await _cancel_after(main, 2.0)

    async def _verify(self, outcome: TeamOutcome, ledger: Ledger, events: EventLog, spent: dict) -> RunResult:
        from tasks import verify

        final = self.run_dir / "final_model"
        events.emit(ev.VERIFY_START, model=str(final) if final.exists() else None)
        verifier = self.hooks.verify or verify
        verdict = await asyncio.to_thread(verifier, final if final.exists() else None, self.task, self.run_dir / "jobs")
        result = RunResult.build(self.run_dir, self.team, self.task, self.options, verdict, outcome, ledger, spent,
                                 isolation=self.isolation)
        result.write(self.run_dir)
        events.emit(ev.RESULT, **{k: getattr(result, k) for k in ("baseline_score", "test_score", "flags", "dev_score")})
        return result

    def _manifest(self) -> dict[str, Any]:
        from sandbox.host import environment

        roles = {a.role.name: prompt_hash(a.role) for a in self.team.agents.values()}
        roles.update({n: prompt_hash(r) for n, r in builtin_roles().items() if n not in roles})
        team, task = self.team, self.task
        return {"run_id": self.run_dir.name, "created": datetime.now(UTC).isoformat(), "options": asdict(self.options),
                "team": {"name": team.name, "path": str(Path(team.path).absolute()), "digest": team.digest,
                         "copy": TEAM_COPY},
                "task": {"name": task.name, "root": str(task.root), "digest": task.digest},
                "seed": self.options.seed, "limits": self.limits, "prompt_hashes": roles, **environment()}


async def _cancel_after(task: asyncio.Task, seconds: float) -> None:
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), seconds)
    if not task.done():
        task.cancel()


def _team_ended(rows: list[dict]) -> dict | None:
    """The `team_end` row of an earlier session whose team finished, when it kept the team's outcome (rows
    written before it did: None, and the team runs again from its memos)."""
    return next((r for r in reversed(rows) if r.get("event") == ev.TEAM_END and isinstance(r.get("outcome"), dict)),
                None)


def _team_started(run_dir: Path) -> bool:
    path = run_dir / "events.jsonl"
    return path.exists() and any(r.get("event") == ev.TEAM_START for r in read_events(path))


def _clear(run_dir: Path, remove: bool) -> None:
    """Remove what a refused run wrote: the folder it made, or what it put in an empty one it was given."""
    if remove:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for path in run_dir.iterdir() if run_dir.is_dir() else ():
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
