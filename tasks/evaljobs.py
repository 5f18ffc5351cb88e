"""The harness's dev evaluation job for a task scored by Inspect AI or by a PostTrainBench folder.

- Inspect: `python -m tasks.inspect_eval` (synthteam's own, read-only code) with fresh copies of the
  benchmark's files in the job's work dir; the score is read from the `.eval` log it leaves in
  `eval/` (`jobs/<job-id>/eval/*.eval` in a run: `inspect view --log-dir` opens it).
- PostTrainBench: the folder's own `evaluate.py`, unchanged, from the prepared (read-only) copy, with
  `--limit`; its metrics JSON's `accuracy` is the score, and Inspect's log goes to `eval/` too.

Both run offline (`HF_HUB_OFFLINE=1`), on a GPU when the task says `device: cuda` and one is there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox.jobs import Job, JobResult, Limits, Resources

__all__ = ["benchmark_eval_job", "eval_env", "job_gpus", "read_benchmark_score", "LOG_DIR", "dev_limit"]

LOG_DIR = "eval"  # a job's Inspect logs, inside its work dir


def eval_env(threads: int = 1) -> dict[str, str]:
    from tasks.hub import OFFLINE_ENV

    return {**OFFLINE_ENV, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "INSPECT_LOG_DIR": LOG_DIR, "INSPECT_DISPLAY": "none", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def job_gpus(task) -> int:
    from sandbox.slots import detect_gpus

    return 1 if task.device == "cuda" and detect_gpus() else 0


def dev_limit(task) -> int:
    """Items the harness's dev evaluation scores: `evaluation.dev_limit`, else all of a sealed dev split,
    else (an Inspect task or PostTrainBench folder scoring its own items) `splits.dev`."""
    limit = task.evaluation.get("dev_limit")
    if limit:
        return int(limit)
    sealed = task.bench is not None and task.bench.sealed
    return -1 if sealed else int(task.ptb.get("dev_limit") if task.ptb else task.splits.get("dev", 64))


def benchmark_eval_job(prepared, model_dir: Path, *, wall_seconds: float, limit: int | None = None) -> Job:
    task = prepared.task
    limit = dev_limit(task) if limit is None or limit < 0 else limit
    gpus = job_gpus(task)
    device = ["--device", "cuda:0"] if gpus else ["--device", "cpu"]
    if task.evaluator == "ptb":
        from tasks.ptb import ptb_command

        command, files = ptb_command(prepared, model_dir, limit, "dev_eval.json"), {}
    else:
        from tasks.staging import SPEC, spec_files

        files = spec_files(task, prepared.chat_template)
        command = (sys.executable, "-m", "tasks.inspect_eval", "--spec", SPEC, "--model-path", str(model_dir),
                   "--items", str(prepared.dev_path), "--limit", str(limit), "--log-dir", LOG_DIR,
                   "--json-output-file", "dev_eval.json", "--provider", task.provider, "--threads", "1", *device)
    return Job(command=tuple(command), files=files, env=eval_env(1), read_paths=(*prepared.read_paths, model_dir),
               resources=Resources(gpus=gpus, cpu_threads=1), limits=Limits(wall_seconds=wall_seconds),
               metadata={"kind": "dev_eval", "task": task.name, "model_dir": str(model_dir),
                         "evaluator": task.evaluator})


def read_benchmark_score(result: JobResult) -> tuple[float | None, int | None]:
    """(accuracy, n): from the job's Inspect log (Inspect), or its metrics JSON (a PostTrainBench folder's
    own evaluate.py, whose `accuracy` is the score); (None, None) when there is none."""
    import json

    from tasks.evallog import LogError, find_log, read_log_score

    workdir = Path(result.workdir)
    if result.metadata.get("evaluator") == "ptb":
        try:
            accuracy = float(json.loads((workdir / "dev_eval.json").read_text())["accuracy"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, None
        log = find_log(workdir / LOG_DIR)
        try:
            return accuracy, read_log_score(log)["n"] if log is not None else None
        except LogError:
            return accuracy, None
    log = find_log(workdir / LOG_DIR)
    if log is None:
        return None, None
    try:
        score = read_log_score(log)
    except LogError:
        return None, None
    return score["accuracy"], score["n"]
