"""Agent-free arms: random search and optuna TPE over a task's knobs. Recipe jobs run through the same
Workshop, ledger and sandbox as a team's; the best dev model is kept and verified on the sealed split.
A killed search resumes from its events.jsonl (finished jobs are reused, their spend restored).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from pathlib import Path
from typing import Any

from team.engine.events import EventLog, read_events
from team.engine.ledger import Ledger
from team.engine.workshop import Workshop, job_key

__all__ = ["run_search", "RandomSampler", "TPESampler", "MAX_FAILS_IN_A_ROW"]

MAX_FAILS_IN_A_ROW = 5  # a recipe that keeps failing would otherwise burn the budget in tiny steps
SEED_KNOBS = frozenset({"seed"})


class RandomSampler:
    """Independent draws with Knob.sample from a private RNG (the same task and seed, the same configs)."""

    def __init__(self, knobs: dict[str, Any], seed: int, done: list[dict]):
        self.knobs = {n: k for n, k in knobs.items() if n not in SEED_KNOBS}
        self.rng = random.Random(f"random-search-{seed}")
        self.number = 0

    def ask(self) -> tuple[int, dict[str, Any]]:
        self.number += 1
        return self.number - 1, {name: knob.sample(self.rng) for name, knob in self.knobs.items()}

    def tell(self, number: int, value: float | None) -> None:
        pass


class TPESampler:
    """optuna's TPE through ask/tell; finished trials of an earlier session are added back first."""

    def __init__(self, knobs: dict[str, Any], seed: int, done: list[dict]):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.space = {n: _distribution(optuna, k) for n, k in knobs.items() if n not in SEED_KNOBS}
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=4)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.trials: dict[int, Any] = {}
        for row in done:
            self._add(row["outcome"]["config"], row.get("dev_accuracy"))

    def _add(self, config: dict, value: float | None) -> None:
        params = {n: config[n] for n in self.space if n in config}
        state = self.optuna.trial.TrialState.COMPLETE if value is not None else self.optuna.trial.TrialState.FAIL
        self.study.add_trial(self.optuna.trial.create_trial(params=params, distributions=self.space, state=state,
                                                            value=value))

    def ask(self) -> tuple[int, dict[str, Any]]:
        trial = self.study.ask(self.space)
        self.trials[trial.number] = trial
        return trial.number, dict(trial.params)

    def tell(self, number: int, value: float | None) -> None:
        trial = self.trials.pop(number)
        if value is None:
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)


def _distribution(optuna: Any, knob: Any) -> Any:
    d = optuna.distributions
    if knob.kind == "float":
        return d.FloatDistribution(float(knob.low), float(knob.high), log=bool(knob.log))
    if knob.kind == "int":
        return d.IntDistribution(int(knob.low), int(knob.high), log=bool(knob.log))
    choices = (False, True) if knob.kind == "bool" else tuple(knob.choices)
    return d.CategoricalDistribution(choices)


def run_search(cell: Any) -> dict[str, Any]:
    return asyncio.run(_search(cell))


async def _search(cell: Any) -> dict[str, Any]:
    from tasks import load_task, prepare_task

    task = load_task(cell.task)
    run_dir = cell.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = read_events(run_dir / "events.jsonl") if (run_dir / "events.jsonl").exists() else []
    prepared = await asyncio.to_thread(prepare_task, task)
    events = EventLog(run_dir / "events.jsonl", run=run_dir.name)
    ledger = _ledger(cell.limits, rows)
    events.emit("session_start", resumed=bool(rows), arm=cell.arm.name, limits=dict(cell.limits))
    try:
        work = _workshop(cell, prepared, ledger, events, rows)
        search = _Search(cell, work, ledger, _job_seconds(cell, task), rows)
        stop_reason = await search.run()
        return await _finish(cell, task, work, ledger, events, search, stop_reason)
    finally:
        events.close()


def _ledger(limits: dict, rows: list[dict]) -> Ledger:
    """The cell's ledger, charged with what earlier sessions spent (an unfinished job counts as fully used)."""
    ledger = Ledger(limits=dict(limits), wall_offset=_earlier_wall(rows))
    finished = {r["key"]: r for r in rows if r.get("event") == "job_finished"}
    for row in rows:
        if row.get("event") == "job_started":
            done = finished.get(row["key"])
            used = done["device_seconds"] if done else row.get("wall_seconds", 0.0)
            ledger.charge({"job_seconds": float(used or 0.0)}, agent=row.get("agent", ""), role="search")
    return ledger


def _earlier_wall(rows: list[dict]) -> float:
    total, start, last = 0.0, None, None
    for row in rows:
        if row.get("event") == "session_start":
            total += (last - start) if start is not None else 0.0
            start = row["ts"]
        last = row.get("ts", last)
    return total + ((last - start) if start is not None else 0.0)


def _workshop(cell: Any, prepared: Any, ledger: Ledger, events: EventLog, rows: list[dict]) -> Workshop:
    from team.engine.assemble import make_executor

    jobs_dir = cell.run_dir / "jobs"
    executor, capacity = make_executor(cell.options, jobs_dir)
    memo = {r["key"]: r for r in rows if r.get("event") == "job_finished"}
    return Workshop(executor, prepared, ledger, events, jobs_dir, capacity, cell.options.cpu_threads,
                    cell.options.gpus, memo=memo)


def _job_seconds(cell: Any, task: Any) -> float:
    from sandbox.units import parse_duration

    if cell.options.job_seconds:
        return float(cell.options.job_seconds)
    value = (task.budget or {}).get("job") or (task.budget or {}).get("per_job")
    return parse_duration(value) if value else 60.0


class _Search:
    """`capacity` workers ask the sampler for a config, run it, tell the dev score; until the budget ends."""

    def __init__(self, cell: Any, work: Workshop, ledger: Ledger, job_seconds: float, rows: list[dict]):
        self.cell, self.work, self.ledger, self.job_seconds = cell, work, ledger, job_seconds
        done = [r for r in rows if r.get("event") == "job_finished" and r.get("role") == "search"]
        kind = RandomSampler if cell.arm.kind == "random" else TPESampler
        self.sampler = kind(work.prepared.task.knobs, cell.seed, done)
        # random search replays its fixed sequence through the job memo; TPE continues after the done trials
        self.outcomes: list[Any] = [] if kind is RandomSampler else [_outcome(r) for r in done]
        self.fails_in_a_row = 0
        self.stop_reason = ""

    async def run(self) -> str:
        dog = asyncio.create_task(self._watchdog())
        try:
            async with asyncio.TaskGroup() as group:
                for worker in range(self.work.capacity):
                    group.create_task(self._worker(worker))
        finally:
            dog.cancel()
        return self.stop_reason or "budget spent"

    async def _watchdog(self) -> None:
        await asyncio.sleep(max(self.ledger.wall_left(), 0.0))
        self.stop_reason = self.stop_reason or "wall-clock budget"
        await self.work.stop()

    async def _worker(self, worker: int) -> None:
        while not self.work.stopping:
            number, config = self.sampler.ask()
            seed = self.cell.seed * 1000 + number
            key = job_key(self.cell.arm.kind, self.cell.seed, number, config)
            outcome = await self.work.run_recipe(key, config, seed, self.job_seconds, agent=f"{self.cell.arm.name}-{worker}",
                                                 role="search", round=number, attempt=0, parent=None)
            self.sampler.tell(number, outcome.dev_accuracy if outcome else None)
            if outcome is None:
                return
            self.outcomes.append(outcome)
            self._count_failure(outcome)

    def _count_failure(self, outcome: Any) -> None:
        self.fails_in_a_row = 0 if outcome.status == "ok" else self.fails_in_a_row + 1
        if self.fails_in_a_row >= MAX_FAILS_IN_A_ROW and not self.work.stopping:
            self.stop_reason = f"{MAX_FAILS_IN_A_ROW} failed jobs in a row"
            self.work.stopping = True

    def best(self) -> Any | None:
        ok = [o for o in self.outcomes if o.status == "ok" and o.dev_accuracy is not None]
        # ties go to the earliest trial (its seed encodes the trial number), not to whichever finished first,
        # so a resumed cell that replays its jobs in another order keeps the same final model
        return max(ok, key=lambda o: (o.dev_accuracy, -o.seed), default=None)


def _outcome(row: dict) -> Any:
    from roles.context import JobOutcome

    fields = dict(row["outcome"])
    for name in ("dev_curve", "loss_curve"):
        fields[name] = tuple(tuple(p) for p in fields.get(name, ()))
    return JobOutcome(**fields)


async def _finish(cell: Any, task: Any, work: Workshop, ledger: Ledger, events: EventLog, search: _Search,
                  stop_reason: str) -> dict[str, Any]:
    from collections import Counter

    from tasks import verify

    best = search.best()
    final = _keep_final(cell.run_dir, best)
    events.emit("verify_start", model=str(final) if final else None)
    verdict = await asyncio.to_thread(verify, final, task, cell.run_dir / "jobs")
    result = {
        "run_id": cell.run_dir.name, "team": cell.arm.kind, "task": task.name, "seed": cell.seed,
        "baseline_score": verdict["baseline_score"], "test_score": verdict["test_score"],
        "flags": verdict.get("flags", []), "n": verdict.get("n"),
        "dev_score": best.dev_accuracy if best else None, "final_members": [best.job_id] if best else [],
        "final_config": best.config if best else None, "budget_used": ledger.snapshot(),
        "budget_limits": ledger.limits_out(), "spend_by_role": ledger.per_role(), "backend": ["none"],
        "jobs": dict(Counter(o.status for o in search.outcomes)), "trials": len(search.outcomes),
        "faults": {}, "stop_reason": stop_reason,
    }
    events.emit("result", **{k: result[k] for k in ("baseline_score", "test_score", "flags", "dev_score")})
    return result


def _keep_final(run_dir: Path, best: Any | None) -> Path | None:
    if best is None:
        return None
    source, target = run_dir / "jobs" / best.job_id / "final_model", run_dir / "final_model"
    if not source.is_dir():
        return None
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    (run_dir / "final_config.json").write_text(json.dumps(best.config, indent=2, default=str))
    return target
