"""The noise floor: the task's reference recipe run with seeds 0..runs-1, each model scored by the
verifier, and the seed-to-seed spread of test (and dev) accuracy. Saved as noise.json; resumable
(a seed already verified is read back, a finished job is reused from events.jsonl).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from team.engine.events import EventLog, read_events
from team.engine.ledger import Ledger, parse_budget
from team.engine.workshop import Workshop, job_key

__all__ = ["measure_noise", "load_noise"]


def load_noise(path: str | Path) -> dict[str, Any]:
    from sandbox.errors import ConfigError

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}:1: not a readable noise.json ({exc})") from None
    if not isinstance(data, dict) or "test" not in data or "task" not in data:
        raise ConfigError(f"{path}:1: not a noise.json (expected keys task, test)")
    return data


def measure_noise(task_name: str, runs: int, out_dir: str | Path, options: Any, budget: str | None = None,
                  on_seed=None) -> dict[str, Any]:
    """Run the reference recipe `runs` times (seeds 0..runs-1) and write `out_dir/noise.json`."""
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    noise = asyncio.run(_measure(task_name, runs, out_dir, options, budget, on_seed))
    (out_dir / "noise.json").write_text(json.dumps(noise, indent=2, default=str))
    return noise


async def _measure(task_name: str, runs: int, out_dir: Path, options: Any, budget: str | None,
                   on_seed) -> dict[str, Any]:
    from tasks import load_task, prepare_task

    task = load_task(task_name)
    if not task.reference:
        from sandbox.errors import ConfigError

        raise ConfigError(f"{task.root}/task.yaml:1: task {task.name} has no reference recipe to measure noise with")
    rows = read_events(out_dir / "events.jsonl") if (out_dir / "events.jsonl").exists() else []
    prepared = await asyncio.to_thread(prepare_task, task)
    events = EventLog(out_dir / "events.jsonl", run=f"noise-{task.name}")
    try:
        work = _workshop(out_dir, prepared, events, rows, options, budget)
        seconds = _job_seconds(options, task)
        seeds = await asyncio.gather(*(_one_seed(work, task, out_dir, s, seconds, on_seed) for s in range(runs)))
    finally:
        events.close()
    return _summary(task, dict(task.reference), [s for s in seeds if s is not None], seconds)


def _workshop(out_dir: Path, prepared: Any, events: EventLog, rows: list[dict], options: Any,
              budget: str | None) -> Workshop:
    from team.engine.assemble import make_executor

    limits = parse_budget(budget, {}) if budget else {}
    executor, capacity = make_executor(options, out_dir / "jobs")
    memo = {r["key"]: r for r in rows if r.get("event") == "job_finished"}
    return Workshop(executor, prepared, Ledger(limits=limits), events, out_dir / "jobs", capacity,
                    options.cpu_threads, options.gpus, memo=memo)


def _job_seconds(options: Any, task: Any) -> float:
    from sandbox.units import parse_duration

    if options.job_seconds:
        return float(options.job_seconds)
    value = (task.budget or {}).get("job") or (task.budget or {}).get("per_job")
    return parse_duration(value) if value else 60.0


async def _one_seed(work: Workshop, task: Any, out_dir: Path, seed: int, seconds: float, on_seed) -> dict | None:
    from tasks import verify

    done = out_dir / f"s{seed}.json"
    if done.exists():
        return json.loads(done.read_text())
    config = dict(task.reference)
    outcome = await work.run_recipe(job_key("noise", seed, config), config, seed, seconds, agent="noise",
                                    role="reference", round=seed, attempt=0, parent=None)
    if outcome is None:  # the budget ran out before this seed started
        return None
    model = out_dir / "jobs" / outcome.job_id / "final_model"
    verdict = await asyncio.to_thread(verify, model if outcome.status == "ok" and model.is_dir() else None, task,
                                      out_dir / "jobs")
    row = {"seed": seed, "status": outcome.status, "dev": outcome.dev_accuracy, "test": verdict["test_score"],
           "baseline": verdict["baseline_score"], "flags": verdict.get("flags", []), "job_id": outcome.job_id,
           "device_seconds": outcome.seconds}
    done.write_text(json.dumps(row, indent=2, default=str))
    on_seed and on_seed(row)
    return row


def _spread(values: list[float]) -> dict[str, float | None]:
    import numpy as np

    if not values:
        return {"mean": None, "sd": None, "n": 0}
    array = np.asarray(values, dtype=float)
    return {"mean": round(float(array.mean()), 6), "sd": round(float(array.std(ddof=1)) if array.size > 1 else 0.0, 6),
            "n": int(array.size)}


def _summary(task: Any, config: dict, seeds: list[dict], seconds: float) -> dict[str, Any]:
    """Failed or flagged runs keep their (baseline) test score: the noise includes the recipe's failures."""
    seeds = sorted(seeds, key=lambda r: r["seed"])
    return {"task": task.name, "config": config, "job_seconds": seconds, "runs": seeds,
            "test": _spread([r["test"] for r in seeds]),
            "dev": _spread([r["dev"] for r in seeds if r["dev"] is not None]),
            "failures": sum(r["status"] != "ok" or bool(r["flags"]) for r in seeds)}
