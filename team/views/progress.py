"""The live progress view of a run: agents at work, jobs, best dev score so far, budget used.

An observer of the run's event rows (it never drives the run): on a terminal a rich live panel,
elsewhere (CI, pipes) one plain line per notable event.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from team.views.units import budget_line, clock_name, scripted_only

__all__ = ["Progress"]

NOTABLE = {"job_started", "job_finished", "verdict", "merge", "budget_stop", "model_error", "isolation_reduced",
           "job_raised", "loop_limit", "interrupted"}


class Progress:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.live = None
        self.recent: list[str] = []
        self.counts = {"running": 0, "finished": 0}
        self.best: float | None = None
        self.ledger: Any = None
        self.scripted = False
        self.clock = "wall"
        self._tty = sys.stderr.isatty()

    def start(self, run_dir, team, task, ledger, backends) -> None:
        self.run_dir, self.ledger, self.scripted = run_dir, ledger, scripted_only(backends)
        self.clock = _clock_of(run_dir)
        if not self.enabled:
            return
        print(f"run {run_dir.name}: team {team.name} on task {task.name} (backend={','.join(backends)}; "
              f"job-seconds on the {clock_name(self.clock)} clock)", file=sys.stderr)
        if self._tty:
            from rich.live import Live

            self.live = Live(self._panel(), refresh_per_second=4, transient=False, console=_console())
            self.live.__enter__()

    def close(self) -> None:
        if self.live is not None:
            self.live.update(self._panel())
            self.live.__exit__(None, None, None)
            self.live = None

    def row(self, row: dict) -> None:
        if not self.enabled:
            return
        event = row["event"]
        if event == "job_started":
            self.counts["running"] += 1
        elif event == "job_finished":
            self.counts["running"] = max(0, self.counts["running"] - 1)
            self.counts["finished"] += 1
        elif event == "merge" and row.get("best_dev") is not None:
            self.best = row["best_dev"]
        line = _describe(row) if event in NOTABLE else None
        if line:
            self.recent = (self.recent + [line])[-8:]
            if self.live is not None:
                self.live.update(self._panel())
            else:
                print(f"[{self.ledger.elapsed():6.1f}s] {line}", file=sys.stderr, flush=True)

    def _panel(self) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_row("jobs", f"{self.counts['running']} running, {self.counts['finished']} finished")
        table.add_row("best dev", f"{self.best:.3f}" if self.best is not None else "-")
        if self.ledger is not None:
            table.add_row("budget", _budget_line(self.ledger.snapshot(), self.ledger.limits, self.scripted, self.clock))
        for line in self.recent:
            table.add_row("", line)
        return Panel(table, title=f"synthteam run {self.run_dir.name}", subtitle=time.strftime("%H:%M:%S"))


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _clock_of(run_dir) -> str:
    """The clock the run's jobs are limited and charged by (its manifest's options)."""
    try:
        return json.loads((Path(run_dir) / "manifest.json").read_text())["options"].get("clock") or "wall"
    except (OSError, ValueError, KeyError, TypeError):
        return "wall"


def _budget_line(used: dict, limits: dict, scripted: bool = False, clock: str = "wall") -> str:
    """'wall 1m 20s of 10m, job_seconds (CPU) 2m 47s of 6m, tokens 18,256 of 2,000,000, usd $0.00 of $5.00'."""
    line = budget_line(used, limits, ("wall", "job_seconds", "tokens", "usd"), clock=clock)
    return line + (" (tokens: prompt sizes an LLM would have been sent; none was)" if scripted else "")


def _is_dev_eval(row: dict) -> bool:
    """The harness's dev evaluation of a finished training job (not a job an agent asked for)."""
    return row.get("role") == "harness" or str(row.get("key", "")).endswith(":dev")


def _is_merge_eval(row: dict) -> bool:
    return not _is_dev_eval(row) and (row.get("kind") == "dev_eval" or (row.get("role") == "editor"
                                                                        and not row.get("node")))


def _job_started(row: dict) -> str:
    job, who = row.get("job_id"), row.get("agent", "")
    if _is_dev_eval(row):
        return f"harness: dev evaluation of job {row.get('of')} ({who}'s, node {row.get('node')}) started as job {job}"
    if _is_merge_eval(row):
        return f"{who or 'editor'}: dev evaluation of a merged model started as job {job} (round {row.get('round')})"
    node = f" on node {row['node']}" if row.get("node") else ""
    return f"{who} started training job {job}{node} (round {row.get('round')})"


def _job_finished(row: dict) -> str | None:
    dev, status = row.get("dev_accuracy"), row.get("status")
    score = f", dev {dev:.3f}" if dev is not None else ""
    if _is_dev_eval(row):  # when it is ok, the training job's line that follows carries the score
        return None if status == "ok" else f"harness: dev evaluation of job {row.get('of')} {status}"
    if _is_merge_eval(row):
        return f"{row.get('agent') or 'editor'}: merged model {status}{score} (job {row.get('job_id')})"
    return f"job {row.get('job_id')} ({row.get('agent')}) {status}" + (f", harness dev {dev:.3f}" if dev is not None else "")


def _describe(row: dict) -> str | None:
    event = row["event"]
    who = row.get("agent", "")
    if event == "job_started":
        return _job_started(row)
    if event == "job_finished":
        return _job_finished(row)
    if event == "verdict":
        about = row.get("job_id") or row.get("subject", "")
        return f"{who}: {row.get('decision')} {about} — {'; '.join(row.get('reasons', []))[:90]}"
    if event == "merge":
        dev = row.get("dev_accuracy")
        return (f"{who or 'editor'}: {row.get('policy')} of {len(row.get('members', []))} -> final model"
                + (f", dev {dev:.3f}" if dev is not None else "") + ("" if row.get("changed") else " (unchanged)"))
    if event == "model_error":
        return f"{who}: model error ({row.get('error', '')[:80]})"
    if event == "job_raised":
        return f"job request of {row.get('asked')} s raised to {row.get('to')} s ({row.get('reason')})"
    if event == "loop_limit":
        return f"{row.get('edge')}: max_loops {row.get('max_loops')} reached, the message stops there"
    return f"{event}: {row.get('reason') or row.get('notice') or row.get('signal') or ''}"
