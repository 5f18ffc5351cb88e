"""`synthteam compare`: every arm × task × seed in its own run dir under OUT/cells/<task>/<arm>/s<seed>/,
with the same budget per task, the noise floor measured (or read), then comparison.json, .md and .html.
Finished cells are read back, started ones resumed, so an interrupted comparison continues where it stopped.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError
from team.studies.arms import ArmSpec, Cell, matched_limits, run_cell

__all__ = ["CompareOptions", "run_compare", "plan_cells", "reference_arm", "cells_at_once"]


@dataclass(frozen=True)
class CompareOptions:
    tasks: tuple[str, ...]
    arms: tuple[ArmSpec, ...]
    seeds: int = 5
    budget: str | None = None
    out: str = "comparison"
    run: Any = None  # team.engine.session.RunOptions: executor, ray address, threads, isolation, job seconds
    noise_runs: int = 3  # 0: no noise floor (ties are then called by the interval alone)
    noise_file: str | None = None
    parallel: int = 0  # cells at once with --executor ray (0: as many as the cluster holds); locally 1
    extra: dict[str, Any] = field(default_factory=dict)


def reference_arm(arms: tuple[ArmSpec, ...]) -> str | None:
    """The arm paired differences are taken against: the one named solo, else the first solo-team arm."""
    names = [a.name for a in arms]
    if "solo" in names:
        return "solo"
    return next((a.name for a in arms if a.kind == "team" and a.team == "solo"), None)


def _check(options: CompareOptions) -> None:
    names = [a.name for a in options.arms]
    if not names:
        raise ConfigError("--arm: name at least one arm (e.g. --arm team=research --arm solo)")
    if len(set(names)) != len(names):
        raise ConfigError(f"--arm: arm names must be unique (got {', '.join(names)})")
    if options.seeds < 1:
        raise ConfigError("--seeds: at least one seed")
    from team.config.topology import load_team

    for arm in options.arms:
        if arm.kind in ("team", "best_of_k"):
            load_team(arm.team)  # a bad team file fails now, before any cell runs


def plan_cells(options: CompareOptions, out: Path) -> tuple[list[Cell], dict[str, dict[str, float]]]:
    from tasks import load_task

    cells, limits = [], {}
    for name in options.tasks:
        task = load_task(name)
        limits[task.name] = matched_limits(task, options.budget)
        for arm in options.arms:
            for seed in range(options.seeds):
                run_dir = out / "cells" / task.name / arm.name / f"s{seed}"
                cells.append(Cell(task.name, arm, seed, run_dir, limits[task.name], options.run))
    return cells, limits


def run_compare(options: CompareOptions, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    _check(options)
    out = Path(options.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    cells, limits = plan_cells(options, out)
    noise = _noise(options, out, limits, say)
    results = _run_cells(cells, options, say)
    return _write(options, out, cells, results, limits, noise)


def _run_cells(cells: list[Cell], options: CompareOptions, say: Callable[[str], None]) -> list[dict]:
    total = len(cells)

    def one(i: int, cell: Cell) -> dict:
        state = _state(cell.run_dir)
        started = time.monotonic()
        if state == "done":
            say(f"[{i + 1}/{total}] {cell.task} {cell.arm.name} s{cell.seed}: done earlier, not run again")
        else:
            say(f"[{i + 1}/{total}] {cell.task} {cell.arm.name} s{cell.seed}: {state} ...")
        result = run_cell(cell)
        if state != "done":
            say(f"[{i + 1}/{total}] {cell.task} {cell.arm.name} s{cell.seed}: {_line(result)} "
                f"in {time.monotonic() - started:.0f}s")
        return result

    if options.run.executor != "ray" or len(cells) < 2:
        return [one(i, c) for i, c in enumerate(cells)]
    resources = _init_ray(options.run.ray_address)
    fit = cells_at_once(resources, options.run)
    at_once = min(options.parallel or max(1, fit), len(cells))
    say(f"ray: {at_once} cells at once (cluster: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; "
        f"it holds {fit} cells with every job slot and evaluation lane busy)")
    if at_once > max(fit, 1):
        say(f"warning: --parallel {at_once} is more than the cluster holds: cells will wait for resources while "
            "their wall-clock budgets run, so their compute is no longer matched")
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        return list(pool.map(lambda ic: one(*ic), enumerate(cells)))


def cells_at_once(resources: dict[str, float], run: Any) -> int:
    """Cells a Ray cluster holds at once with each cell's training slots and evaluation lane all busy, so
    that no cell's wall clock runs while its jobs wait for the cluster (0: not even one)."""
    from team.engine.assemble import ray_slots

    slots = ray_slots(run)
    fit = int(resources.get("CPU", 0) // (slots * max(1, run.cpu_threads) + 1))
    if run.gpus:
        fit = min(fit, int(resources.get("GPU", 0) // (slots * run.gpus)))
    return fit


def _init_ray(address: str | None) -> dict[str, float]:
    import ray

    from team.engine.assemble import local_ray_cpus

    if not ray.is_initialized():  # once, before the cells' executors share it from their threads
        extra = {} if address else {"num_cpus": local_ray_cpus()}
        ray.init(address=address, include_dashboard=False, **extra)
    return dict(ray.cluster_resources())


def _state(run_dir: Path) -> str:
    if (run_dir / "result.json").exists():
        return "done"
    return "resuming" if run_dir.exists() else "running"


def _line(result: dict) -> str:
    used, limits = result.get("budget_used") or {}, result.get("budget_limits") or {}
    failure = result.get("error") or ", ".join(f.get("flag", "") for f in result.get("flags") or [])
    dev = result.get("dev_score")
    return (f"test {result['test_score']:.3f} (baseline {result['baseline_score']:.3f}), "
            f"dev {'-' if dev is None else f'{dev:.3f}'}, job-seconds {used.get('job_seconds', 0):.1f}/"
            f"{limits.get('job_seconds') or 0:.1f}" + (f", FAILED: {failure}" if failure else ""))


def _noise(options: CompareOptions, out: Path, limits: dict, say: Callable[[str], None]) -> dict[str, dict | None]:
    from team.studies.noise import load_noise, measure_noise

    if options.noise_file:
        data = load_noise(options.noise_file)
        return {task: ({**data, "source": options.noise_file} if data["task"] == task else None) for task in limits}
    floors: dict[str, dict | None] = {}
    for task in limits:
        if options.noise_runs < 2:
            floors[task] = None
            continue
        say(f"noise floor of {task}: the reference recipe with {options.noise_runs} seeds ...")
        data = measure_noise(task, options.noise_runs, out / "noise" / task, options.run,
                             on_seed=lambda row: say(f"  noise s{row['seed']}: test {row['test']:.3f}"))
        floors[task] = {**data, "source": str(out / "noise" / task / "noise.json")}
        say(f"noise floor of {task}: test sd {data['test']['sd']}, dev sd {data['dev']['sd']}")
    return floors


def _write(options: CompareOptions, out: Path, cells: list[Cell], results: list[dict], limits: dict,
           noise: dict) -> dict[str, Any]:
    from team.studies.analysis import analyse
    from team.views.comparison import write_html, write_markdown

    rows = [{"task": c.task, "arm": c.arm.name, "seed": c.seed, "result": r, "run_dir": c.run_dir}
            for c, r in zip(cells, results, strict=True)]
    comparison = analyse(rows, limits=limits, noise=noise, reference=reference_arm(options.arms))
    comparison = {"created": datetime.now(UTC).isoformat(), "out": str(out), "seeds": options.seeds,
                  "budget": options.budget, "executor": options.run.executor,
                  "job_seconds_per_job": options.run.job_seconds,
                  "arms": {a.name: {"kind": a.kind, "team": a.team, "k": a.k, "what": a.describe()}
                           for a in options.arms},
                  "tie_rule": "tie when |mean paired diff| < 2 sd of the noise floor or its 95% CI includes 0",
                  **comparison}
    (out / "comparison.json").write_text(json.dumps(comparison, indent=2, default=str))
    write_markdown(comparison, out / "comparison.md")
    write_html(comparison, out / "comparison.html")
    return comparison
