"""The live progress view of a run: agents at work, jobs, best dev score so far, budget used.

On a terminal it is a rich live panel; elsewhere (CI, pipes) it prints one plain line per notable event.
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress"]

NOTABLE = {"job_started", "job_finished", "verdict", "merge", "budget_stop", "model_error", "isolation_reduced"}


class Progress:
    def __init__(self, run_dir, team, task, ledger, events, runtime, enabled: bool = True):
        self.run_dir, self.team, self.task, self.ledger, self.runtime = run_dir, team, task, ledger, runtime
        self.events = events
        self.enabled = enabled
        self.live = None
        self.recent: list[str] = []
        self.counts = {"running": 0, "finished": 0}
        self._tty = sys.stderr.isatty()

    async def __aenter__(self) -> Progress:
        if not self.enabled:
            return self
        self._inner_emit = self.events.emit
        self.events.emit = self._emit  # observe every row as it is written
        print(f"run {self.run_dir.name}: team {self.team.name} on task {self.task.name} "
              f"(backend={self._backends()})", file=sys.stderr)
        if self._tty:
            from rich.live import Live

            self.live = Live(self._panel(), refresh_per_second=4, transient=False, console=_console())
            self.live.__enter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if not self.enabled:
            return
        self.events.emit = self._inner_emit
        if self.live is not None:
            self.live.update(self._panel())
            self.live.__exit__(None, None, None)

    def _backends(self) -> str:
        return ",".join(sorted({r.model.name for r in self.runtime.all_runners()}))

    def _emit(self, event: str, **fields: Any) -> dict:
        row = self._inner_emit(event, **fields)
        if event == "job_started":
            self.counts["running"] += 1
        elif event == "job_finished":
            self.counts["running"] = max(0, self.counts["running"] - 1)
            self.counts["finished"] += 1
        if event in NOTABLE:
            line = _describe(row)
            self.recent = (self.recent + [line])[-8:]
            if self.live is not None:
                self.live.update(self._panel())
            else:
                print(f"[{self.ledger.elapsed():6.1f}s] {line}", file=sys.stderr, flush=True)
        return row

    def _panel(self) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        best = self.runtime.merger.best_dev
        used = self.ledger.snapshot()
        table.add_row("jobs", f"{self.counts['running']} running, {self.counts['finished']} finished")
        table.add_row("best dev", f"{best:.3f}" if best is not None else "-")
        table.add_row("budget", _budget_line(used, self.ledger.limits))
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
        return f"critic: {row.get('decision')} {row.get('job_id')} — {'; '.join(row.get('reasons', []))[:90]}"
    if event == "merge":
        dev = row.get("dev_accuracy")
        return (f"editor: {row.get('policy')} of {len(row.get('members', []))} -> final model"
                + (f", dev {dev:.3f}" if dev is not None else ""))
    if event == "model_error":
        return f"{who}: model error ({row.get('error', '')[:80]})"
    return f"{event}: {row.get('reason') or row.get('notice') or ''}"
