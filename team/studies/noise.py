"""The noise floor: the task's reference recipe run with seeds 0..runs-1, each a run of the built-in team
`reference` through the same Session as any team (its own run directory, ledger, resume and verifier),
and the seed-to-seed spread of test (and dev) accuracy. Saved as noise.json; resumable (a seed with a
result is read back, a started one resumed).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError, SynthteamError

__all__ = ["measure_noise", "load_noise", "NoiseInterrupted"]


class NoiseInterrupted(SynthteamError):
    """Ctrl-C or SIGTERM stopped one seed's run: the measurement, not only that run, resumes by its own command."""

    def __init__(self, signum: int, seed: int):
        import signal

        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name} in seed {seed}: its job stopped and was "
                         "charged what it used; rerun the same command to resume (finished seeds are kept)")


def load_noise(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}:1: not a readable noise.json ({exc})") from None
    if not isinstance(data, dict) or "test" not in data or "task" not in data:
        raise ConfigError(f"{path}:1: not a noise.json (expected keys task, test)")
    return data


def measure_noise(task_name: str, runs: int, out_dir: str | Path, options: Any, budget: str | None = None,
                  on_seed=None, say=None) -> dict[str, Any]:
    """Run the reference recipe `runs` times (seeds 0..runs-1) and write `out_dir/noise.json`. `on_seed` gets
    each seed's row; `say`, if given, a line as each seed's run starts."""
    from tasks import load_task
    from tasks.jobs import with_horizon
    from team.engine.run.options import task_job_seconds
    from team.engine.run.session import Interrupted

    task = with_horizon(load_task(task_name), getattr(options, "job_tokens", None))
    if task.reference == task.defaults():
        raise ConfigError(f"{task.root}/task.yaml:1: task {task.name} has no reference recipe to measure noise with")
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = task_job_seconds(task, options.job_seconds)
    seeds = []
    for seed in range(runs):
        if say and not (out_dir / f"s{seed}" / "result.json").exists():
            say(f"seed {seed} ({seed + 1} of {runs}): the reference recipe {_short(task)}, one job of at most "
                f"{seconds:g} s{_horizon(task)}, then the verifier on the sealed test split ...")
        try:
            seeds.append(_one_seed(task_name, out_dir, seed, seconds, options, budget, on_seed))
        except Interrupted as exc:  # its message names `synthteam resume sN`, which would leave noise.json unwritten
            raise NoiseInterrupted(exc.signum, seed) from None
    noise = _summary(task, dict(task.reference), [s for s in seeds if s is not None], seconds)
    (out_dir / "noise.json").write_text(json.dumps(noise, indent=2, default=str))
    return noise


def _horizon(task: Any) -> str:
    from tasks.jobs import job_tokens

    tokens = job_tokens(task)
    return f" and {tokens:,} training tokens" if tokens else ""


def _short(task: Any) -> str:
    """The reference recipe as the knobs it sets away from the task's defaults."""
    defaults = task.defaults()
    moved = {k: v for k, v in task.reference.items() if defaults.get(k) != v}
    return "(" + ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in moved.items()) + ")" \
        if moved else "(the task's defaults)"


def _one_seed(task: str, out_dir: Path, seed: int, seconds: float, options: Any, budget: str | None,
              on_seed) -> dict | None:
    from team import resume_run, start_run

    run_dir = out_dir / f"s{seed}"
    if (run_dir / "result.json").exists():
        result = json.loads((run_dir / "result.json").read_text())
    elif (run_dir / "manifest.json").exists():
        result = resume_run(run_dir, progress=False)
    else:
        limits = budget or f"wall={seconds * 3:g}s,job_seconds={seconds * 2:g}s"
        result = start_run(replace(options, team="reference", task=task, out=str(run_dir), seed=seed, budget=limits,
                                   progress=False, prior="reference"))
    if not result.get("final_members") and result.get("jobs", {}).get("ok", 0) == 0 and not result.get("flags"):
        return None  # the budget ended before this seed's job started
    row = {"seed": seed, "status": "ok" if result.get("final_members") else "failed", "dev": result.get("dev_score"),
           "test": result["test_score"], "baseline": result["baseline_score"], "flags": result.get("flags", []),
           "job_id": (result.get("final_members") or [None])[0],
           "device_seconds": (result.get("budget_used") or {}).get("job_seconds")}
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
    from tasks.jobs import job_tokens

    seeds = sorted(seeds, key=lambda r: r["seed"])
    return {"task": task.name, "config": config, "job_seconds": seconds, "job_tokens": job_tokens(task), "runs": seeds,
            "test": _spread([r["test"] for r in seeds]),
            "dev": _spread([r["dev"] for r in seeds if r["dev"] is not None]),
            "failures": sum(r["status"] != "ok" or bool(r["flags"]) for r in seeds)}
