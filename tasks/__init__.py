"""What the team works on: PostTrainBench-style tasks (task.yaml + evaluate.py + data.py, or a benchmark
scored by Inspect AI, or a PostTrainBench task folder as it is), base models (built in, a directory, or a
hub id from the local cache), solutions (programs with a train.py) and their starters, the training
recipe, checkpoint merging, the seal of the test split and the independent verifier.

Heavy modules (torch) load on first use, so `import tasks` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from tasks.spec import BUILTIN_TASKS, Knob, Task, inert_knobs, list_tasks, load_task

if TYPE_CHECKING:  # pragma: no cover
    from tasks.jobs import SolutionOutcome, dev_eval_job, recipe_job, solution_job, solution_outcome
    from tasks.merge import merge_models
    from tasks.prepare import PreparedTask, prepare_task
    from tasks.solutions import (
        PatchError,
        Solution,
        apply_patch,
        load_solution,
        set_constants,
        starter,
        write_solution,
    )
    from tasks.trial import run_solution
    from tasks.verifier import verify

__all__ = [
    "BUILTIN_TASKS", "Knob", "Task", "inert_knobs", "load_task", "list_tasks", "PreparedTask", "prepare_task",
    "recipe_job", "dev_eval_job", "merge_models", "verify", "solution_job", "solution_outcome", "SolutionOutcome",
    "Solution", "PatchError", "load_solution", "write_solution", "starter", "set_constants", "apply_patch",
    "run_solution",
]

_LAZY = {
    "PreparedTask": "tasks.prepare", "prepare_task": "tasks.prepare", "recipe_job": "tasks.jobs",
    "dev_eval_job": "tasks.jobs", "merge_models": "tasks.merge", "verify": "tasks.verifier",
    "solution_job": "tasks.jobs", "solution_outcome": "tasks.jobs", "SolutionOutcome": "tasks.jobs",
    **{name: "tasks.solutions" for name in ("Solution", "PatchError", "load_solution", "write_solution", "starter",
                                            "set_constants", "apply_patch")},
    "run_solution": "tasks.trial",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
