"""`synthteam compare`: every arm × task × seed in its own run dir under OUT/cells/<task>/<arm>/s<seed>/,
with the same budget per task, the noise floor measured (or read), then comparison.json, .md and .html.
Finished cells are read back, started ones resumed, so an interrupted comparison continues where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.cores import SHARE_VAR
from sandbox.errors import ConfigError
from team.studies.arms import ArmSpec, Cell, matched_limits, run_cell
from team.studies.dispatch import Dispatch, SlurmOptions, cells_at_once, check_dispatch, dispatch, map_remote

__all__ = ["CompareOptions", "run_compare", "run_plan", "plan_cells", "reference_arm", "cells_at_once", "load_arms",
           "load_pilot"]


@dataclass(frozen=True)
class CompareOptions:
    tasks: tuple[str, ...]
    arms: tuple[ArmSpec, ...]
    seeds: int = 5
    budget: str | None = None
    out: str = "comparison"
    run: Any = None  # team.engine.run.session.RunOptions: executor, ray address, threads, isolation, job seconds
    noise_runs: int = 3  # 0: no noise floor (ties are then called by the interval alone)
    noise_file: str | None = None
    parallel: int = 0  # cells at once: with --executor ray 0 is as many as the cluster holds; locally 0 or 1 is
    # one after another, more runs cells side by side sharing the machine's cores (no CPU job waits on a core)
    extra: dict[str, Any] = field(default_factory=dict)
    detect: float | None = None  # a difference the researcher names: the power brief gives the seeds it needs
    slurm: SlurmOptions | None = None  # set: each cell is one submitit job (--executor slurm); run.executor local
    prior: str = "starter"  # what every arm starts from (team.engine.run.options.PRIORS)
    reference: str | None = None  # the arm differences are paired against (default: solo; the full team for --ablate)
    pilot: str | None = None  # --plan: an earlier comparison.json whose arms' paired spreads the plan also uses
    hooks: Any = None  # team.Hooks for every cell's runs (tests)
    recipe_seeds: int = 0  # K > 0: every cell's final recipe trained again on seeds 0..K-1, shared by all cells
    # (team.studies.recipes), and the arms paired on those scores too


def reference_arm(arms: tuple[ArmSpec, ...], named: str | None = None) -> str | None:
    """The arm paired differences are taken against: the one named, else solo, else the first solo-team arm."""
    names = [a.name for a in arms]
    if named is not None:
        return named
    if "solo" in names:
        return "solo"
    return next((a.name for a in arms if a.kind == "team" and a.team == "solo"), None)


def _check(options: CompareOptions) -> None:
    if not options.arms:
        raise ConfigError("--arm: name at least one arm (e.g. --arm team=research --arm solo)")
    if options.seeds < 1:
        raise ConfigError("--seeds: at least one seed")
    from team.studies.recipes import check_recipe_seeds

    check_recipe_seeds(options.recipe_seeds, options.run.executor, options.slurm is not None)
    _check_detect(options.detect)
    _check_arms(options)


def _check_arms(options: CompareOptions) -> None:
    """Every arm loads (a bad team file or an unknown name fails now, before a noise job or a cell runs)."""
    from team.engine.run.options import PRIORS

    names = [a.name for a in options.arms]
    if len(set(names)) != len(names):
        raise ConfigError(f"--arm: arm names must be unique (got {', '.join(names)})")
    if options.prior not in PRIORS:
        raise ConfigError(f"--prior {options.prior!r}: unknown prior (known: {', '.join(PRIORS)})")
    if options.reference is not None and options.reference not in names:
        raise ConfigError(f"--reference {options.reference!r}: no such arm (arms: {', '.join(names)})")
    load_arms(options.arms)


def load_arms(arms: tuple[ArmSpec, ...]) -> None:
    """Each arm's team loads: one line per problem (an unknown name says which names work)."""
    from team.config.topology import load_team

    problems = []
    for arm in arms:
        try:
            load_team(arm.team)
        except ConfigError as exc:
            problems += [_unknown_arm(arm) if "no such team" in p else p for p in exc.problems]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))


def _unknown_arm(arm: ArmSpec) -> str:
    from roles.library import team_files

    return (f"--arm {arm.name}{'=' + arm.team if arm.team != arm.name else ''}: no such arm (give a built-in team: "
            f"{', '.join(team_files())}; best-of-k[=K]; or NAME=PATH.yaml)")


def _check_detect(detect: float | None) -> None:
    if detect is not None and not detect > 0:
        raise ConfigError(f"--detect {detect:g}: name a difference larger than 0 (e.g. --detect 0.1)")


def plan_cells(options: CompareOptions, out: Path) -> tuple[list[Cell], dict[str, dict[str, float]]]:
    """The cells in the order they run: seed by seed, every arm within a seed, so that a study stopped part-way
    holds every arm on the same seeds (pairs to compare) and the last cells to run are of every arm. Within a
    seed, arms whose finished cells (of this study's folder) took longest start first, arms never run before
    ahead of them: a study resumed or extended does not end on its slowest cells running alone while the
    other slots idle (longest processing time first)."""
    from tasks import load_task
    from team.engine.run.options import prior_config

    cells, limits = [], {}
    side_by_side = options.run.executor == "local" and options.slurm is None and options.parallel > 1
    if side_by_side:  # every executor of this process shares the cores: the cells' and their verifiers'
        os.environ[SHARE_VAR] = "1"
    run = replace(options.run, prior=options.prior, share_cores=options.run.share_cores or side_by_side)
    for name in options.tasks:
        task = load_task(name)
        prior_config(task, options.prior)  # a prior the task cannot give fails now, before any cell runs
        limits[task.name] = matched_limits(task, options.budget)
        arms = _longest_first(options.arms, out / "cells" / task.name)
        for seed in range(options.seeds):
            for arm in arms:
                run_dir = out / "cells" / task.name / arm.name / f"s{seed}"
                cells.append(Cell(task.name, arm, seed, run_dir, limits[task.name], run, options.hooks))
    return cells, limits


def _longest_first(arms: tuple[ArmSpec, ...], folder: Path) -> list[ArmSpec]:
    """The arms by how long their finished cells in `folder` took (the median of result.json's wall used),
    longest first; arms with none keep their order, ahead of the rest."""
    def took(arm: ArmSpec) -> float:
        walls = []
        for path in (folder / arm.name).glob("s*/result.json"):
            try:
                walls.append(float(json.loads(path.read_text())["budget_used"]["wall"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return statistics.median(walls) if walls else math.inf

    return sorted(arms, key=took, reverse=True)  # a stable sort: ties keep the order they were given


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")  # one write: cells side by side report from several threads
    sys.stderr.flush()


def run_compare(options: CompareOptions, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = say or _say
    _check(options)
    out = Path(options.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    cells, limits = plan_cells(options, out)
    check_dispatch(_dispatch(options, out), max((lim.get("wall") or 0.0) for lim in limits.values()))
    noise = _noise(options, out, limits, say)
    results = _run_cells(cells, options, say)
    recipes = _recipes(options, out, cells, results, say) if options.recipe_seeds else None
    return _write(options, out, cells, results, limits, noise, recipes)


def _recipes(options: CompareOptions, out: Path, cells: list[Cell], results: list[dict],
             say: Callable[[str], None]) -> dict:
    from team.studies.recipes import score_recipes

    rows = [{"task": c.task, "arm": c.arm.name, "seed": c.seed, "result": r, "run_dir": c.run_dir}
            for c, r in zip(cells, results, strict=True)]
    slots = max(1, min(options.parallel or 1, os.cpu_count() or 1))
    return score_recipes(rows, options.recipe_seeds, out, options.run, slots, say)


def run_plan(options: CompareOptions, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """`compare --plan`: no cell runs. Measure (or read) the noise floor and say, per task, the minimum
    detectable difference at `options.seeds` and the seeds `options.detect` needs; with a pilot (an earlier
    comparison.json), the same from each of its arms' observed paired spread. A pilot alone needs no noise floor."""
    from team.studies.power import power_brief, spread_brief

    say = say or _say
    _check_detect(options.detect)
    if options.seeds < 2:
        raise ConfigError("--plan --seeds: at least 2 seeds (a paired test needs two)")
    if options.noise_file is None and options.noise_runs < 2 and options.pilot is None:
        raise ConfigError("--plan: needs a noise floor (--noise-runs 2 or more, or --noise FILE) or --pilot FILE")
    pilot = load_pilot(options.pilot, options.tasks) if options.pilot else None
    _check_arms(options)
    out = Path(options.out).absolute()
    _, limits = plan_cells(replace(options, arms=()), out)
    check_dispatch(_dispatch(options, out))
    plan: dict[str, Any] = {task: {} for task in limits}
    if options.noise_file is not None or pilot is None:
        noise = _noise(options, out, limits, say)
        missing = [task for task, floor in noise.items() if not floor]
        if missing:
            raise ConfigError(f"--plan: no noise floor for {', '.join(missing)} (--noise {options.noise_file} is "
                              f"for another task); measure it with --noise-runs 2 or more")
        for task, floor in noise.items():
            plan[task] |= {**power_brief(floor["test"]["sd"], options.seeds, detect=options.detect,
                                         noise_runs=floor["test"].get("n")),
                           "noise_sd": floor["test"]["sd"], "noise_runs": floor["test"].get("n"),
                           "source": floor["source"]}
    for task, arms in (pilot or {}).items():
        plan[task]["pilot"] = {"source": options.pilot, "arms": {
            arm: {"against": p["against"], **spread_brief(p["sd"], p["seeds"], options.seeds, detect=options.detect)}
            for arm, p in arms.items()}}
    return plan


def load_pilot(path: str, tasks: tuple[str, ...]) -> dict[str, dict[str, dict]]:
    """Per task of `tasks`, each arm's observed paired spread in an earlier comparison.json: {arm: {sd, seeds,
    against}} (arms with under 2 paired seeds have no spread and are left out)."""
    source = Path(path)
    try:
        data = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--pilot {path}: not a readable comparison.json ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
        raise ConfigError(f"--pilot {path}: not a comparison.json (no tasks; `synthteam compare` writes one in OUT)")
    pilot = {}
    for task in tasks:
        paired = (data["tasks"].get(task) or {}).get("paired") or {}
        arms = {arm: {"sd": d["sd"], "seeds": len(d["seeds"]), "against": d.get("against")}
                for arm, d in paired.items()
                if isinstance(d, dict) and d.get("sd") is not None and len(d.get("seeds", ())) >= 2}
        if not arms:
            raise ConfigError(f"--pilot {path}: no paired differences for task {task} (it holds "
                              f"{', '.join(sorted(data['tasks'])) or 'no task'})")
        pilot[task] = arms
    return pilot


def _dispatch(options: CompareOptions, out: Path) -> Dispatch:
    backend = "slurm" if options.slurm is not None else options.run.executor
    return Dispatch(backend, options.parallel, options.run, options.slurm, out / "slurm")


def _run_cells(cells: list[Cell], options: CompareOptions, say: Callable[[str], None]) -> list[dict]:
    return dispatch(cells, run_cell, _dispatch(options, Path(options.out).absolute()), say)


def _noise(options: CompareOptions, out: Path, limits: dict, say: Callable[[str], None]) -> dict[str, dict | None]:
    from team.studies.noise import load_noise, measure_noise

    if options.noise_file:
        data = load_noise(options.noise_file)
        return {task: ({**data, "source": options.noise_file} if data["task"] == task else None) for task in limits}
    floors: dict[str, dict | None] = {task: None for task in limits}
    todo, where = [task for task in limits if options.noise_runs >= 2], _dispatch(options, out)
    if where.backend == "slurm":  # one submitit job per task: no training on the login node
        say(f"noise floor of {', '.join(todo)}: the reference recipe with {options.noise_runs} seeds as slurm jobs ...")
        measured = map_remote(measure_noise, [(t, options.noise_runs, out / "noise" / t, options.run) for t in todo],
                              where)
    else:
        measured = [_measure_here(task, options, out, say) for task in todo]
    for task, data in zip(todo, measured, strict=True):
        floors[task] = {**data, "source": str(out / "noise" / task / "noise.json")}
        say(f"noise floor of {task}: test sd {data['test']['sd']}, dev sd {data['dev']['sd']}")
    return floors


def _measure_here(task: str, options: CompareOptions, out: Path, say: Callable[[str], None]) -> dict:
    from team.studies.noise import measure_noise

    say(f"noise floor of {task}: the reference recipe with {options.noise_runs} seeds ...")
    return measure_noise(task, options.noise_runs, out / "noise" / task, options.run,
                         on_seed=lambda row: say(f"  noise s{row['seed']}: test {row['test']:.3f}"))


def _write(options: CompareOptions, out: Path, cells: list[Cell], results: list[dict], limits: dict,
           noise: dict, recipes: dict | None = None) -> dict[str, Any]:
    from team.studies.analysis import analyse
    from team.studies.provenance import cell_environments
    from team.views.comparison import write_html, write_markdown

    rows = [{"task": c.task, "arm": c.arm.name, "seed": c.seed, "result": r, "run_dir": c.run_dir}
            for c, r in zip(cells, results, strict=True)]
    arm_order = {a.name: i for i, a in enumerate(options.arms)}  # the report lists arms as they were given
    rows.sort(key=lambda row: (arm_order[row["arm"]], row["seed"]))  # stable: tasks keep their order
    comparison = analyse(rows, limits=limits, noise=noise, reference=reference_arm(options.arms, options.reference),
                         detect=options.detect, recipes=recipes, recipe_seeds=options.recipe_seeds)
    environment = cell_environments(rows)
    for task in comparison["tasks"].values():
        task["prior"] = options.prior
    comparison = {"created": datetime.now(UTC).isoformat(), "out": str(out), "seeds": options.seeds,
                  "prior": options.prior,
                  "budget": options.budget, "executor": _dispatch(options, out).backend,
                  "job_seconds_per_job": options.run.job_seconds, "job_tokens": options.run.job_tokens,
                  "recipe_seeds": options.recipe_seeds,
                  "arms": {a.name: {"kind": a.kind, "team": a.team, "k": a.k, "what": a.describe()}
                           for a in options.arms},
                  "tie_rule": "tie when |mean paired diff| < 2 sd of the noise floor or its 95% CI includes 0",
                  "power_rule": "mde: the true paired difference a two-sided paired t test at α 0.05 detects with "
                                "power 0.8, at the seeds completed; paired sd √2 × the noise floor's test sd",
                  "environment": environment, **comparison}
    (out / "comparison.json").write_text(json.dumps(comparison, indent=2, default=str))
    write_markdown(comparison, out / "comparison.md")
    write_html(comparison, out / "comparison.html")
    return comparison
