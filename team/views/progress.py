"""The live progress view of a run: agents at work, jobs, best dev score so far, budget used.

An observer of the run's event rows (it never drives the run): on a terminal a rich live panel,
elsewhere (CI, pipes) one plain line per notable event.
"""

from __future__ import annotations

import sys
import time
from typing import Any

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
        self._tty = sys.stderr.isatty()

    def start(self, run_dir, team, task, ledger, backends) -> None:
        self.run_dir, self.ledger = run_dir, ledger
        if not self.enabled:
            return
        print(f"run {run_dir.name}: team {team.name} on task {task.name} (backend={','.join(backends)})",
              file=sys.stderr)
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
        if event in NOTABLE:
            line = _describe(row)
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
            table.add_row("budget", _budget_line(self.ledger.snapshot(), self.ledger.limits))
        for line in self.recent:
            table.add_row("", line)
        return Panel(table, title=f"synthteam run {self.run_dir.name}", subtitle=time.strftime("%H:%M:%S"))


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _budget_line(used: dict, limits: dict) -> str:
    parts = []
    for key in ("wall", "job_seconds", "tokens", "usd"):
        limit = limits.get(key)
        parts.append(f"{key} {used.get(key, 0):.4g}" + (f"/{limit:.4g}" if limit else ""))
    return ", ".join(parts)


def _describe(row: dict) -> str:
    event = row["event"]
    who = row.get("agent", "")
    if event == "job_started":
        return f"{who} started job {row.get('job_id')} (round {row.get('round')})"
    if event == "job_finished":
        dev = row.get("dev_accuracy")
        return (f"job {row.get('job_id')} {row.get('status')}" + (f", dev {dev:.3f}" if dev is not None else "")
                + (" (dev eval)" if row.get("kind") == "dev_eval" else ""))
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
