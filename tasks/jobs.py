"""Sandbox jobs for a prepared task, and what the team may conclude from them.

- `solution_job`: `python train.py` with a solution's files in the work dir (the team's training job);
- `recipe_job`: the knob recipe, `python -m tasks.recipe --config config.json` (the solution whose only
  edits are its constants, kept for knob-tuning teams);
- `dev_eval_job`: the harness's own dev score of a model directory, with the harness's pristine scorer;
- `solution_outcome`: a training job and its dev evaluation turned into one `SolutionOutcome`. Decisions
  use `harness_dev` only; what the job printed (`reported_dev`) is kept to be compared, never trusted.

A solution reads its inputs from the environment (see `SOLUTION_ENV`), all read-only except its work dir.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandbox.jobs import Job, JobResult, Limits, Resources
from tasks.prepare import PreparedTask

__all__ = ["recipe_job", "dev_eval_job", "solution_job", "solution_outcome", "SolutionOutcome", "SOLUTION_ENV",
           "REPORTED_DEV_TOLERANCE", "read_dev_score", "model_dir_problem", "job_tokens", "with_horizon"]

SOLUTION_ENV = {
    "SYNTHTEAM_VISIBLE": "the task's visible folder: train.jsonl, dev.jsonl, task.json, evaluate.py",
    "SYNTHTEAM_BASE_MODEL": "the base model directory",
    "SYNTHTEAM_WALL_SECONDS": "the job's time limit in seconds, on the clock SYNTHTEAM_CLOCK names",
    "SYNTHTEAM_CLOCK": "cpu (the job's CPU-seconds, which the harness limits through its cgroup) or unset: wall",
    "SYNTHTEAM_HORIZON": "when the task's budget names job_tokens: the job's horizon in training tokens "
                            "(the starters' schedule follows it, not the clock)",
    "SYNTHTEAM_THREADS": "CPU threads the job may use",
    "SYNTHTEAM_DEVICE": "cpu or cuda",
    "SYNTHTEAM_METRICS": "the metrics file (JSON lines), set by the sandbox",
}
REPORTED_DEV_TOLERANCE = 0.2  # |printed - harness| dev accuracy above this is flagged (subsets differ a bit)
_DISK = {"tiny": 2 << 30}  # a tiny solution's work dir (its checkpoints are 2 MB); hf: no limit by default


def _threads_env(threads: int) -> dict[str, str]:
    """Thread counts, and offline: nothing a job runs (transformers, Inspect) may ask the Hub for anything."""
    from tasks.hub import OFFLINE_ENV

    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), **OFFLINE_ENV,
            "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def solution_job(prepared: PreparedTask, solution, *, wall_seconds: float, cpu_threads: int = 1, gpus: int = 0,
                 metadata: Mapping[str, Any] | None = None) -> Job:
    """A job running `python train.py` with `solution`'s files, reading only the prepared task's read paths."""
    env = {
        "SYNTHTEAM_VISIBLE": str(prepared.visible_dir), "SYNTHTEAM_BASE_MODEL": str(prepared.base_model_dir),
        "SYNTHTEAM_WALL_SECONDS": f"{wall_seconds:g}", "SYNTHTEAM_THREADS": str(cpu_threads),
        "SYNTHTEAM_DEVICE": "cuda" if gpus else "cpu", **_threads_env(cpu_threads),
    }
    tokens = job_tokens(prepared.task)
    if tokens:
        env["SYNTHTEAM_HORIZON"] = str(tokens)
    return Job(
        command=(sys.executable, "train.py"), files=dict(solution.files), env=env,
        read_paths=prepared.read_paths, resources=Resources(gpus=gpus, cpu_threads=cpu_threads),
        limits=Limits(wall_seconds=wall_seconds, disk_bytes=_DISK.get(prepared.task.kind)),
        metadata={"kind": "solution", "task": prepared.task.name, "solution": solution.digest, **(metadata or {})},
    )


def with_horizon(task, tokens: int | None):
    """The task with one job's horizon set to `tokens` training tokens (`--job-tokens`); None: as it is."""
    from dataclasses import replace

    return task if tokens is None else replace(task, budget={**(task.budget or {}), "job_tokens": str(int(tokens))})


def job_tokens(task) -> int | None:
    """One job's horizon in training tokens (the task's budget `job_tokens`, e.g. 300k), or None: none."""
    from sandbox.units import parse_count

    value = (task.budget or {}).get("job_tokens")
    return parse_count(value) if value else None


def recipe_job(
    prepared: PreparedTask,
    config: Mapping[str, Any],
    *,
    wall_seconds: float,
    cpu_threads: int = 1,
    gpus: int = 0,
    metadata: Mapping[str, Any] | None = None,
) -> Job:
    """A job that fine-tunes the base with `config` (validated against the task's knobs: ConfigError)."""
    task = prepared.task
    full = task.validate_config(config)
    command = [
        sys.executable, "-m", "tasks.recipe", "--config", "config.json", "--visible", str(prepared.visible_dir),
        "--base-model", str(prepared.base_model_dir),
        "--wall-seconds", f"{wall_seconds:g}", "--threads", str(cpu_threads),
    ]
    if gpus == 0:
        command += ["--device", "cpu"]
    return Job(
        command=tuple(command),
        files={"config.json": json.dumps(full, indent=1, sort_keys=True)},
        env=_threads_env(cpu_threads),
        read_paths=prepared.read_paths,
        resources=Resources(gpus=gpus, cpu_threads=cpu_threads),
        limits=Limits(wall_seconds=wall_seconds),
        metadata={"kind": "recipe", "task": task.name, "config": full, **(metadata or {})},
    )


def model_dir_problem(model_dir: Path) -> str | None:
    """Why a job's model directory may not be scored, or None. A job owns its work dir: a final_model/
    that is, or holds, a symlink would make the harness read a file the job itself could not (the decoy,
    another run's checkpoint)."""
    model_dir = Path(model_dir)
    if model_dir.is_symlink():
        return f"{model_dir.name}/ is a symlink"
    if not (model_dir / "config.json").is_file():
        return f"no {model_dir.name}/config.json"
    links = [p.name for p in model_dir.rglob("*") if p.is_symlink()]
    return f"{model_dir.name}/{links[0]} is a symlink" if links else None


def dev_eval_job(prepared: PreparedTask, model_dir: Path, *, wall_seconds: float = 120, limit: int = -1) -> Job:
    """A job that scores `model_dir` on the dev split with the harness's pristine evaluate.py (placed by
    the harness in the job's own fresh work dir; never a solution's copy). Writes dev_eval.json. A task
    scored by Inspect AI or a PostTrainBench folder gets `tasks.evaljobs.benchmark_eval_job` (its Inspect log
    in the job's eval/). JobError when `model_dir` is, or holds, a symlink."""
    problem = model_dir_problem(Path(model_dir)) if Path(model_dir).exists() else None
    if problem and "symlink" in problem:
        from sandbox.errors import JobError

        raise JobError("unsafe_model_dir", "dev_eval", f"{model_dir}: {problem}")
    model_dir = Path(model_dir).resolve()
    if prepared.task.evaluator != "home":
        from tasks.evaljobs import benchmark_eval_job

        return benchmark_eval_job(prepared, model_dir, wall_seconds=wall_seconds, limit=limit)
    command = (
        sys.executable, "evaluate.py", "--model-path", str(model_dir),
        "--split-file", str(prepared.dev_path), "--limit", str(limit), "--json-output-file", "dev_eval.json",
    )
    return Job(
        command=command,
        files={"evaluate.py": prepared.task.evaluate_path.read_text()},
        env=_threads_env(1),
        read_paths=(*prepared.read_paths, model_dir),
        resources=Resources(cpu_threads=1),
        limits=Limits(wall_seconds=wall_seconds),
        metadata={"kind": "dev_eval", "task": prepared.task.name, "model_dir": str(model_dir)},
    )


@dataclass(frozen=True)
class SolutionOutcome:
    """One solution job, as the team may judge it: by `harness_dev`, never by `reported_dev`."""

    status: str  # ok | failed | timeout | oom | killed | cancelled | nan | no_model
    harness_dev: float | None  # the harness's dev accuracy of final_model/ (None: nothing to score)
    reported_dev: float | None  # what the job printed as `dev_accuracy:` (untrusted)
    flags: tuple[dict, ...] = ()
    final_model: str | None = None
    error: str = ""  # one line
    stderr_tail: str = ""
    job_id: str = ""
    wall_seconds: float = 0.0
    dev_n: int | None = None
    metrics: tuple[dict, ...] = field(default=(), repr=False)

    def to_dict(self, metrics: bool = False) -> dict:
        row = asdict(self)
        row["flags"] = [dict(f) for f in self.flags]
        if not metrics:
            row.pop("metrics")
        return row


def read_dev_score(result: JobResult | None) -> tuple[float | None, int | None]:
    """(accuracy, n) from a dev evaluation job's dev_eval.json (None when it did not finish)."""
    if result is None or not result.ok:
        return None, None
    if result.metadata.get("evaluator") in ("inspect", "ptb"):
        from tasks.evaljobs import read_benchmark_score

        return read_benchmark_score(result)
    try:
        row = json.loads((Path(result.workdir) / "dev_eval.json").read_text())
        return float(row["accuracy"]), int(row["n"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _status(result: JobResult, model: Path) -> tuple[str, str]:
    summary = result.summary()
    if summary.get("status") == "nan" or summary.get("stopped") == "nan":
        return "nan", "the training loss became NaN"
    if not result.ok:
        tail = _last_line(result.stderr_tail)
        return result.status.value, "; ".join(x for x in (result.error, tail) if x)[:400]
    problem = model_dir_problem(model)
    if problem:
        return "no_model", f"the job left no usable final_model/ ({problem}; train.py must save one)"
    return "ok", ""


def solution_outcome(job_result: JobResult, dev_eval_result: JobResult | None) -> SolutionOutcome:
    """The outcome of a training job and the harness's dev evaluation of its final_model/ (if any)."""
    model = Path(job_result.workdir) / "final_model"
    status, error = _status(job_result, model)
    harness_dev, dev_n = read_dev_score(dev_eval_result)
    reported = _float(job_result.summary().get("dev_accuracy"))
    flags = []
    if dev_eval_result is not None and harness_dev is None:
        flags.append({"flag": "dev_eval_failed", "reason": _last_line(dev_eval_result.stderr_tail)
                      or dev_eval_result.error or "the harness could not score final_model/"})
    if dev_eval_result is None and status == "ok":  # never evaluated (the run ran out of budget or stopped)
        flags.append({"flag": "unscored", "reason": "the harness's dev evaluation did not run (no budget left or "
                                                    "the run was stopping); the job's own numbers are not a score"})
    elif reported is not None and (harness_dev is None or abs(reported - harness_dev) > REPORTED_DEV_TOLERANCE):
        measured = "nothing to score" if harness_dev is None else f"the harness measured {harness_dev:.3f}"
        flags.append({"flag": "reported_dev_differs",
                      "reason": f"the job printed dev_accuracy {reported:.3f}; {measured}"})
    return SolutionOutcome(
        status=status, harness_dev=harness_dev, reported_dev=reported, flags=tuple(flags),
        final_model=str(model) if model_dir_problem(model) is None else None, error=error,
        stderr_tail=job_result.stderr_tail[-2000:], job_id=job_result.job_id,
        wall_seconds=round(job_result.wall_seconds, 3), dev_n=dev_n, metrics=tuple(job_result.metrics))
