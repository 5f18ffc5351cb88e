"""A run folder for the report tests, built in seconds: the research team through the real session on the
prepared `reverse` task, with `team.testing.ScriptedExecutor` jobs that also leave `stdout.log` and
`stderr.log` in their folders, as the local and Ray executors do, so the report has logs to link."""

from __future__ import annotations

from pathlib import Path

from team import Hooks, RunOptions, start_run
from team.testing import ScriptedExecutor, toy_verify

__all__ = ["report_run"]


class LoggingExecutor(ScriptedExecutor):
    """ScriptedExecutor jobs, each leaving the stdout and stderr files a real executor's job folder holds."""

    async def wait(self, handle):
        result = await super().wait(handle)
        folder = self.root / handle.job_id
        (folder / "stdout.log").write_text(result.stdout_tail or "", encoding="utf-8")
        (folder / "stderr.log").write_text(result.stderr_tail or "", encoding="utf-8")
        return result


def report_run(root: Path, team: str = "research", budget: str = "wall=30s,job_seconds=300s") -> tuple[Path, dict]:
    out = root / "run"
    hooks = Hooks(executor=lambda _: LoggingExecutor(out / "jobs", seconds=0.05), verify=toy_verify)
    result = start_run(RunOptions(team=team, task="reverse", out=str(out), budget=budget, seed=0, progress=False,
                                  job_seconds=10.0), hooks=hooks)
    return out, result
