"""The arms of a comparison and how one cell (task × arm × seed) runs. Every arm is a team: a team file,
a built-in team (solo, solo-parallel, pair, research, and the sampler teams random and tpe), or best-of-k
(k solo runs at 1/k of the budget each, the best kept by dev score). Every cell runs through the same
Session as `synthteam run`, with the same limits for every arm of a task; a finished cell is read back,
a started one resumed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError

__all__ = ["ArmSpec", "Cell", "parse_arm", "matched_limits", "budget_text", "run_cell", "SAMPLER_TEAMS"]

SAMPLER_TEAMS = {"random": "random", "tpe": "tpe", "optuna": "tpe"}  # arm name -> built-in sampler team (optuna: tpe)
DEFAULT_K = 3


@dataclass(frozen=True)
class ArmSpec:
    name: str
    kind: str  # team | best_of_k
    team: str = "solo"  # the team YAML or built-in name
    k: int = 1

    def describe(self) -> str:
        from team.config.topology import load_team

        if self.kind == "best_of_k":
            return f"best of {self.k} {self.team} runs at 1/{self.k} budget each"
        return f"team {self.team}: {load_team(self.team).description}"


@dataclass(frozen=True)
class Cell:
    task: str
    arm: ArmSpec
    seed: int
    run_dir: Path
    limits: Mapping[str, float]  # the cell's whole budget (the same for every arm of a task)
    options: Any  # team.engine.run.session.RunOptions: executor, job seconds, threads, isolation (team/task/out/seed ignored)
    hooks: Any = None  # team.Hooks for every run of the cell (tests: a scripted executor); must pickle for slurm


def parse_arm(text: str) -> ArmSpec:
    """`solo`, `research`, `random`, `tpe` (any built-in team), `NAME=TEAM` (a built-in name or a YAML path),
    `best-of-k[=K]`; `optuna` is another name for `tpe`: every arm is a team."""
    name, sep, value = (part.strip() for part in text.partition("="))
    if not name:
        raise ConfigError(f"--arm {text!r}: an arm needs a name")
    if name == "best-of-k":
        k = _positive_int(value or str(DEFAULT_K), text)
        return ArmSpec(f"best-of-{k}", "best_of_k", "solo", k)
    if name in SAMPLER_TEAMS:
        if sep:
            raise ConfigError(f"--arm {text!r}: {name} takes no value")
        return ArmSpec(name, "team", SAMPLER_TEAMS[name])
    if "/" in name or name.startswith("."):
        raise ConfigError(f"--arm {text!r}: name the arm: NAME=PATH")
    return ArmSpec(name, "team", value or name)


def _positive_int(value: str, text: str) -> int:
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise ConfigError(f"--arm {text!r}: k must be a positive integer")
    return k


def matched_limits(task: Any, budget: str | None) -> dict[str, float]:
    """The budget every arm of a task gets: the solo team's and the task's limits, `--budget` on top."""
    from team.config.topology import load_team
    from team.engine.run.options import effective_limits

    return effective_limits(load_team("solo"), task, budget)


def budget_text(limits: Mapping[str, float], divide: int = 1) -> str:
    """Limits as an explicit `--budget` string (every key set, so no team default can loosen or tighten it)."""
    parts = []
    for key, value in limits.items():
        share = value / divide
        parts.append(f"{key}={share:.6g}s" if key in ("wall", "job_seconds") else f"{key}={share:.10g}")
    return ",".join(parts)


def run_cell(cell: Cell) -> dict[str, Any]:
    """Run (or resume, or read back) one cell; a crash is recorded as a failed cell, never dropped. An
    interrupt (Ctrl-C, SIGTERM) stops the comparison and leaves the cell to resume, not scored."""
    from team.engine.run.session import Interrupted

    done = cell.run_dir / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    try:
        if cell.arm.kind == "best_of_k":
            result = _best_of_k(cell)
        else:
            result = _team_run(cell, cell.run_dir, cell.arm.team, cell.seed, budget_text(cell.limits))
    except (ConfigError, Interrupted):
        raise
    except Exception as exc:  # noqa: BLE001 - any other crash is a failed cell, scored at the baseline
        result = _crashed(cell, exc)
    result = {**result, "arm": cell.arm.name, "arm_kind": cell.arm.kind, "cell_seed": cell.seed}
    done.write_text(json.dumps(result, indent=2, default=str))
    return result


def _team_run(cell: Cell, run_dir: Path, team: str, seed: int, budget: str) -> dict[str, Any]:
    from team import resume_run, start_run

    if (run_dir / "result.json").exists():
        return json.loads((run_dir / "result.json").read_text())
    if (run_dir / "manifest.json").exists() and (run_dir / "events.jsonl").exists():
        return resume_run(run_dir, progress=False, hooks=cell.hooks)
    if run_dir.exists():
        shutil.rmtree(run_dir)  # died before its manifest: nothing to keep
    options = replace(cell.options, team=team, task=cell.task, out=str(run_dir), seed=seed, budget=budget,
                      progress=False)
    return start_run(options, hooks=cell.hooks)


def _best_of_k(cell: Cell) -> dict[str, Any]:
    """k solo runs one after another, each with 1/k of every limit; the best by DEV score is the result."""
    k, runs = cell.arm.k, []
    for i in range(k):
        sub = cell.run_dir / f"k{i}"
        runs.append(_team_run(cell, sub, cell.arm.team, cell.seed * 1000 + i, budget_text(cell.limits, k)))
    best = max(range(k), key=lambda i: (runs[i].get("dev_score") is not None, runs[i].get("dev_score") or 0.0))
    return {**runs[best], "run_id": cell.run_dir.name, "best_of": k, "kept": f"k{best}",
            "members": [{"run": f"k{i}", "dev_score": r.get("dev_score"), "test_score": r.get("test_score"),
                         "flags": r.get("flags", [])} for i, r in enumerate(runs)],
            "budget_used": _sum_budgets([r["budget_used"] for r in runs]),
            "budget_limits": _sum_budgets([r["budget_limits"] for r in runs])}


def _sum_budgets(rows: list[Mapping[str, float | None]]) -> dict[str, float | None]:
    keys = {k for row in rows for k in row}
    return {k: None if any(row.get(k) is None for row in rows) else round(sum(row[k] for row in rows), 6)
            for k in sorted(keys)}


def _crashed(cell: Cell, exc: BaseException) -> dict[str, Any]:
    from tasks import load_task, verify

    verdict = verify(None, load_task(cell.task), None)
    return {"run_id": cell.run_dir.name, "team": cell.arm.team, "task": cell.task, "seed": cell.seed,
            "baseline_score": verdict["baseline_score"], "test_score": verdict["baseline_score"],
            "flags": [], "n": verdict.get("n"), "dev_score": None, "final_members": [],
            "budget_used": {}, "budget_limits": dict(cell.limits), "error": f"{type(exc).__name__}: {exc}"[:500],
            "stop_reason": "crashed"}
