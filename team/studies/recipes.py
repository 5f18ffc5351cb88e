"""Recipe scores on common random numbers (`synthteam compare --recipe-seeds K`).

A cell's final model is one draw of its recipe: the final solution (its train.py, or the soup of several)
trained on the seed its run gave it. Which seed a run draws is luck, and a team that tries more configs
draws more seeds while a small dev split picks among the draws: in the 1.8M-token study of LOG.md
(2026-12-05) that lottery, not the recipes, made most of the paired spread. Here every cell's final
recipe is trained again from the base model on seeds 0..K-1 — the same K seeds for every arm and cell
(common random numbers: two cells that return the same recipe score the same, to the bit) — and each model
is scored by the verifier on the sealed test split. A cell's recipe score is the mean of its K scores; the
comparison pairs the arms on it beside the kept models' scores.

    OUT/recipes/<task>/<recipe>/recipe.json   the recipe's members (solution digests) and the cells that returned it
    OUT/recipes/<task>/<recipe>/s<k>.json     one seed's verdict: test score, flags, CPU-seconds (read back on resume)
    OUT/recipes/<task>/<recipe>/logs-s<k>/    the verifier's logs for that seed (tasks scored by Inspect AI)
    OUT/recipes/<task>/.jobs/                 the jobs while they run (removed once scored)

A soup's members train on seeds k, k + 1000, k + 2000, ... (a soup of one config at two seeds stays a soup of two
models). A cell with no final model, a flagged one, or one whose final train.py has no SEED constant has no
recipe to train again: it keeps its model's score (the baseline for the first two), and the report says so.
Recipe scoring is the verifier's compute: outside every arm's budget, on this machine, on the clock the cells used.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError, SynthteamError

__all__ = ["Recipe", "RecipesInterrupted", "cell_recipe", "describe", "score_recipes", "check_recipe_seeds", "SOUP_SEED_STRIDE"]

SOUP_SEED_STRIDE = 1000  # member i of a soup trains on seed k + i × this


class RecipesInterrupted(SynthteamError):
    """Ctrl-C while recipes trained: the jobs in flight stopped; every seed already scored is kept."""

    def __init__(self):
        import signal

        self.signum = signal.SIGINT
        super().__init__("interrupted while scoring recipes: the jobs in flight stopped; rerun the same command to "
                         "resume (every cell and every recipe seed already scored is kept)")


@dataclass(frozen=True)
class Recipe:
    """The members of a final model as solutions with their SEED blanked (0): what the run found, not its draw."""

    members: tuple[Any, ...]  # tasks.solutions.Solution

    @property
    def key(self) -> str:
        return hashlib.sha256("\n".join(sorted(m.digest for m in self.members)).encode()).hexdigest()[:16]

    def seeded(self, k: int) -> list[Any]:
        from tasks import set_constants

        return [set_constants(m, {"seed": k + i * SOUP_SEED_STRIDE}) for i, m in enumerate(self.members)]


def cell_recipe(run_dir: Path, result: Mapping[str, Any]) -> tuple[Recipe | None, str | None]:
    """The final recipe of a finished cell, or (None, why not)."""
    from tasks import load_solution, set_constants
    from team.engine.records.events import read_events

    members = result.get("final_members") or []
    if not members:
        return None, "no final model"
    if result.get("flags"):
        return None, "flagged by the verifier"
    folder = Path(run_dir) / result["kept"] if result.get("kept") else Path(run_dir)  # best-of-k: the kept run
    nodes = {row["job_id"]: row["node"] for row in read_events(folder / "events.jsonl")
             if row.get("event") == "job_started" and row.get("role") != "harness" and row.get("node")}
    solutions = []
    for job in members:
        source = folder / "tree" / str(nodes.get(job))
        if job not in nodes or not (source / "train.py").is_file():
            return None, f"job {job}'s solution is not in {folder / 'tree'}"
        try:
            solutions.append(set_constants(load_solution(source), {"seed": 0}))
        except (ValueError, SyntaxError) as exc:
            return None, f"job {job}'s train.py cannot be given a seed ({str(exc)[:120]})"
    return Recipe(tuple(solutions)), None


def score_recipes(cells: Sequence[Mapping[str, Any]], seeds: int, out: Path, run: Any, slots: int = 1,
                  say: Callable[[str], None] | None = None) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Per cell (task, arm, seed): its recipe, the recipe's score on each of `seeds` shared seeds and their
    mean (`score`: what the comparison pairs). `cells`: dicts with task, arm, seed, result, run_dir. Each
    distinct recipe is trained once per seed for the whole study; finished seeds are read back."""
    say = say or (lambda line: None)
    rows, todo = {}, {}
    for c in cells:
        recipe, why = cell_recipe(Path(c["run_dir"]), c["result"])
        what = describe(recipe, c["result"], c["task"]) if recipe is not None else None
        rows[c["task"], c["arm"], c["seed"]] = (recipe, why, what, c["result"])
        if recipe is not None:
            todo.setdefault(c["task"], {})[recipe.key] = recipe
            _note_cell(out / "recipes" / c["task"] / recipe.key, recipe, what, f"{c['arm']} s{c['seed']}")
    for task, recipes in todo.items():
        _score_task(task, recipes, seeds, out / "recipes" / task, run, slots, say)
    return {cell: _cell_row(out / "recipes" / cell[0], recipe, why, what, result, seeds)
            for cell, (recipe, why, what, result) in rows.items()}


def describe(recipe: Recipe, result: Mapping[str, Any], task_name: str) -> str:
    """What the recipe changes from the run's prior: its constants that moved, then the code operators its
    program carries (e.g. `warmup_frac 0.124, warm_restarts`); `the prior` when nothing moved."""
    from tasks import load_task
    from tasks.solutions import constants
    from team.engine.run.options import prior_config

    try:
        prior = prior_config(load_task(task_name), result.get("prior") or "starter")
    except ConfigError:
        prior = {}
    got = constants(recipe.members[0])
    moves = [f"{k} {_value(got[k.upper()])}" for k, v in prior.items()
             if k != "seed" and k.upper() in got and got[k.upper()] != v]
    text = ", ".join(moves + list(result.get("final_operators") or [])) or "the prior"
    return f"soup of {len(recipe.members)}: {text}" if len(recipe.members) > 1 else text


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _note_cell(folder: Path, recipe: Recipe, what: str, cell: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.json"
    known = json.loads(path.read_text()) if path.exists() else {"members": [m.digest for m in recipe.members],
                                                                  "what": what, "cells": []}
    if cell not in known["cells"] or known.get("what") != what:
        known |= {"cells": list(dict.fromkeys([*known["cells"], cell])), "what": what}
        path.write_text(json.dumps(known, indent=1) + "\n")


def _cell_row(folder: Path, recipe: Recipe | None, why: str | None, what: str | None, result: Mapping[str, Any],
              seeds: int) -> dict[str, Any]:
    from team.studies.stats import cell_score

    if recipe is None:
        return {"recipe": None, "why": why, "scores": [], "score": cell_score(result)}
    verdicts = [json.loads((folder / recipe.key / f"s{k}.json").read_text()) for k in range(seeds)]
    scores = [v["test"] for v in verdicts]
    return {"recipe": recipe.key, "what": what, "why": None, "scores": scores, "score": statistics.fmean(scores),
            "members": len(recipe.members), "cpu_seconds": round(sum(v["cpu_seconds"] or 0.0 for v in verdicts), 1),
            "flags": sorted({f for v in verdicts for f in v["flags"]})}


def _score_task(task_name: str, recipes: Mapping[str, Recipe], seeds: int, folder: Path, run: Any, slots: int,
                say: Callable[[str], None]) -> None:
    from tasks import load_task, prepare_task
    from tasks.jobs import with_horizon
    from team.engine.run.options import task_job_seconds
    from team.engine.run.preflight import check_clock

    todo = [(r, k) for k in range(seeds) for key, r in recipes.items()  # seed by seed: a stopped study holds every
            if not (folder / key / f"s{k}.json").exists()]                # recipe on its first seeds
    if not todo:
        return
    task = with_horizon(load_task(task_name), getattr(run, "job_tokens", None))
    seconds = task_job_seconds(task, run.job_seconds)
    say(f"recipes of {task_name}: {len(recipes)} distinct final recipe{'s' * (len(recipes) != 1)} × {seeds} "
        f"shared seed{'s' * (seeds != 1)}, {len(todo)} to "
        f"train (each job at most {seconds:g} s), then the verifier on the sealed test split ...")
    prepared = prepare_task(task)
    try:
        asyncio.run(_train_and_verify(prepared, todo, folder, seconds, check_clock(run), run.cpu_threads, slots, say))
    except KeyboardInterrupt:
        raise RecipesInterrupted() from None


async def _train_and_verify(prepared: Any, todo: list[tuple[Recipe, int]], folder: Path, seconds: float,
                            clock: str, threads: int, slots: int, say: Callable[[str], None]) -> None:
    from sandbox import DeviceSlots, LocalExecutor

    executor = LocalExecutor(folder / ".jobs", DeviceSlots.declared(cpu_slots=max(1, slots)))
    # one seed's jobs and its verdict hold a place together: verdicts come as seeds finish (an interrupt loses at
    # most `slots` seeds), and no trained model waits for its verifier behind the remaining training
    places = asyncio.Semaphore(max(1, slots))

    async def one(recipe: Recipe, k: int) -> None:
        work = [f"{recipe.key}-s{k}-m{i}" for i in range(len(recipe.members))]
        try:
            async with places:
                results = await asyncio.gather(*(_train(executor, prepared, s, job_id, seconds, clock, threads)
                                                 for s, job_id in zip(recipe.seeded(k), work, strict=True)))
                verdict = await asyncio.to_thread(_verify, prepared, results, folder, recipe, k)
            say(f"  recipe {recipe.key[:8]} seed {k}: test {verdict['test']:.3f}")
        finally:
            for path in [executor.root / name for name in work] + [folder / f"{recipe.key}-s{k}-soup"]:
                shutil.rmtree(path, ignore_errors=True)

    try:
        await asyncio.gather(*(one(r, k) for r, k in todo))
    finally:
        await executor.close()
        shutil.rmtree(executor.root, ignore_errors=True)  # the warm worker's folders: nothing of a job is kept


async def _train(executor: Any, prepared: Any, solution: Any, job_id: str, seconds: float, clock: str,
                 threads: int) -> Any:
    from dataclasses import replace

    from sandbox import on_cpu_clock
    from tasks import solution_job

    shutil.rmtree(executor.root / job_id, ignore_errors=True)  # what an interrupted study left of this job
    job = replace(solution_job(prepared, solution, wall_seconds=seconds, cpu_threads=threads,
                               metadata={"role": "recipe"}), job_id=job_id)
    return await executor.wait(await executor.submit(on_cpu_clock(job) if clock == "cpu" else job))


def _verify(prepared: Any, results: list[Any], folder: Path, recipe: Recipe, k: int) -> dict[str, Any]:
    """Score what the seed's jobs left (a soup of them when there are several); write and return s<k>.json."""
    from tasks import merge_models, verify
    from tasks.jobs import model_dir_problem

    models = [Path(r.workdir) / "final_model" for r in results]
    model = None
    if all(r.ok for r in results) and all(model_dir_problem(m) is None for m in models):
        model = models[0] if len(models) == 1 else merge_models(models, folder / f"{recipe.key}-s{k}-soup")
    verdict = verify(model, prepared.task, log_dir=folder / recipe.key / f"logs-s{k}")
    row = {"seed": k, "member_seeds": [k + i * SOUP_SEED_STRIDE for i in range(len(results))],
           "test": verdict["test_score"], "flags": [f["flag"] for f in verdict.get("flags", [])],
           "status": [r.status.value for r in results],
           "stopped": [(r.summary() if r.ok else {}).get("stopped") for r in results],
           "cpu_seconds": None if any(r.cpu_seconds is None for r in results)
           else round(sum(r.cpu_seconds for r in results), 3)}
    path = folder / recipe.key / f"s{k}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(row, indent=1) + "\n")
    os.replace(tmp, path)  # whole or absent: a resumed study never reads half a verdict
    return row


def check_recipe_seeds(seeds: int, executor: str, slurm: bool) -> None:
    if seeds < 0:
        raise ConfigError(f"--recipe-seeds {seeds}: 0 (off) or more seeds")
    if seeds and (executor != "local" or slurm):
        raise ConfigError("--recipe-seeds: recipes are trained on this machine; use it with --executor local "
                          "(or score a finished study again here with the same command and --executor local)")
