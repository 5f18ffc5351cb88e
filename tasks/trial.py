"""One solution run the way the team runs it: a sandboxed `python train.py` job, then the harness's own
dev evaluation of its final_model/. Used by `synthteam solution run`, the operator benchmark and tests.

    OUT/                 the training job's work dir: the solution's files, stdout.log, stderr.log,
                         metrics.jsonl, final_model/, outcome.json (the SolutionOutcome)
    OUT.dev_eval/        the harness's evaluation job (dev_eval.json), outside the job's reach
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from dataclasses import replace
from pathlib import Path

from sandbox import DeviceSlots, LocalExecutor
from sandbox.errors import ConfigError
from tasks.jobs import SolutionOutcome, dev_eval_job, model_dir_problem, solution_job, solution_outcome
from tasks.prepare import PreparedTask

__all__ = ["run_solution", "check_out_dir", "solution_executor"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


def check_out_dir(out: Path) -> Path:
    """OUT must be new (or an empty folder) with a plain name: it becomes the job's work dir."""
    out = Path(out).absolute()
    if not _SAFE.match(out.name):
        raise ConfigError(f"{out}:1: --out: the last part of the path may hold letters, digits, '.', '_', '-'")
    for path in (out, out.with_name(out.name + ".dev_eval")):
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ConfigError(f"{path}:1: --out: exists and is not empty (choose a new folder)")
        if path.exists():
            path.rmdir()
    return out


def solution_executor(root: Path, cpu_threads: int = 1, gpus: int = 0, isolation: str = "auto") -> LocalExecutor:
    """An executor with one slot (GPUs when asked), whose reduced-isolation warning is left to the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        slots = DeviceSlots.detect(cpu_threads=cpu_threads) if gpus else DeviceSlots.declared(cpu_slots=1)
        return LocalExecutor(root, slots, isolation=isolation)  # type: ignore[arg-type]


def _write_new(path: Path, text: str) -> None:
    """Write a new file in a job's work dir without following anything the job planted there."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)


async def run_solution(prepared: PreparedTask, solution, *, seconds: float, out: Path,
                       cpu_threads: int = 1, gpus: int = 0, isolation: str = "auto",
                       eval_seconds: float = 300) -> SolutionOutcome:
    """Run `solution` for at most `seconds` into `out` (new), then score its final_model/ on dev."""
    out = check_out_dir(out)
    executor = solution_executor(out.parent, cpu_threads, gpus, isolation)  # the job's work dir is OUT
    job = solution_job(prepared, solution, wall_seconds=seconds, cpu_threads=cpu_threads, gpus=gpus,
                       metadata={"role": "cli"})
    result = await executor.wait(await executor.submit(replace(job, job_id=out.name)))
    evaluated = None
    model = Path(result.workdir) / "final_model"
    if model_dir_problem(model) is None:
        eval_job = replace(dev_eval_job(prepared, model, wall_seconds=eval_seconds), job_id=f"{out.name}.dev_eval")
        evaluated = await executor.wait(await executor.submit(eval_job))
    outcome = solution_outcome(result, evaluated)
    _write_new(Path(result.workdir) / "outcome.json", json.dumps(outcome.to_dict(), indent=1) + "\n")
    return outcome
