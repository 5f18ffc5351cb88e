"""Sandbox jobs for a prepared task: a recipe run (`recipe_job`) and a dev-split scoring (`dev_eval_job`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.jobs import Job, Limits, Resources
from tasks.prepare import PreparedTask

__all__ = ["recipe_job", "dev_eval_job"]


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
        env={"OMP_NUM_THREADS": str(cpu_threads), "MKL_NUM_THREADS": str(cpu_threads)},
        read_paths=prepared.read_paths,
        resources=Resources(gpus=gpus, cpu_threads=cpu_threads),
        limits=Limits(wall_seconds=wall_seconds),
        metadata={"kind": "recipe", "task": task.name, "config": full, **(metadata or {})},
    )


def dev_eval_job(prepared: PreparedTask, model_dir: Path, *, wall_seconds: float = 120, limit: int = -1) -> Job:
    """A job that scores `model_dir` on the dev split with the task's evaluate.py (writes dev_eval.json)."""
    model_dir = Path(model_dir).resolve()
    command = (
        sys.executable, str(prepared.task.evaluate_path), "--model-path", str(model_dir),
        "--split-file", str(prepared.dev_path), "--limit", str(limit), "--json-output-file", "dev_eval.json",
    )
    return Job(
        command=command,
        env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        read_paths=(*prepared.read_paths, model_dir),
        resources=Resources(cpu_threads=1),
        limits=Limits(wall_seconds=wall_seconds),
        metadata={"kind": "dev_eval", "task": prepared.task.name, "model_dir": str(model_dir)},
    )
