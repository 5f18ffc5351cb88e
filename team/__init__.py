"""The orchestrator, one subpackage per concern (arrows point down: cli -> studies -> engine -> config, models;
views read what runs wrote):

    config/   team files: schema v1 (pydantic) and the checked role graph
    models/   the Model seam: litellm, scripted, replay
    engine/   one run directory's lifecycle (session), the message-passing runtime, agents, jobs, merges,
              the budget ledger, the event log
    studies/  comparisons of arms (every arm is a team), the noise floor, statistics
    views/    reports, plots, live progress
    cli/      the `synthteam` command

`start_run` and `resume_run` are the one-call API: a session with live progress, then the report.
Heavy parts (torch, litellm) load only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from team.config import Agent, Edge, Team, TeamSpec, load_team
from team.engine.records.ledger import Ledger, parse_budget
from team.engine.run.options import Hooks, RunOptions

__all__ = ["Ledger", "parse_budget", "TeamSpec", "Agent", "Edge", "Team", "load_team", "RunOptions", "Hooks",
           "start_run", "resume_run"]


def start_run(options: RunOptions, *, hooks: Hooks | None = None) -> dict[str, Any]:
    """Run a team on a task (progress on stderr unless `options.progress` is off), write the report, and
    return result.json as a dict."""
    import asyncio

    from team.engine.run.session import new_session

    session = new_session(options, hooks=hooks, observers=_observers(options))
    return _report(session.run_dir, asyncio.run(session.run()))


def resume_run(run_dir: str | Path, *, hooks: Hooks | None = None, progress: bool = True) -> dict[str, Any]:
    """Continue a killed or interrupted run; the same result as an uninterrupted one. A finished run (its
    result.json written) is not run again: its result is returned as it stands."""
    import json

    from team.engine.run.session import read_manifest, resume_session
    from team.views.progress import Progress

    done = Path(run_dir).absolute() / "result.json"
    if done.exists():  # a finished run is left as it is: its result stands
        read_manifest(done.parent)
        return {**json.loads(done.read_text()), "report": str(done.parent / "report.md"), "finished_before": True}
    result = resume_session(run_dir, hooks=hooks, observers=(Progress(enabled=progress),))
    return _report(Path(run_dir).absolute(), result)


def _observers(options: RunOptions) -> tuple:
    from team.views.progress import Progress

    return (Progress(enabled=options.progress),)


def _report(run_dir: Path, result: Any) -> dict[str, Any]:
    from team.views.report import write_report

    out = result.to_dict()
    out["report"] = str(write_report(run_dir))
    return out
