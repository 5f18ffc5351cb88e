"""What the team works on: PostTrainBench-style tasks (task.yaml + evaluate.py + data.py), the built-in
base model and tasks, the training recipe, checkpoint merging and the independent verifier.

Heavy modules (torch) load on first use, so `import tasks` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from tasks.spec import BUILTIN_TASKS, Knob, Task, list_tasks, load_task

if TYPE_CHECKING:  # pragma: no cover
    from tasks.jobs import dev_eval_job, recipe_job
    from tasks.merge import merge_models
    from tasks.prepare import PreparedTask, prepare_task
    from tasks.verifier import verify

__all__ = [
    "BUILTIN_TASKS", "Knob", "Task", "load_task", "list_tasks", "PreparedTask", "prepare_task",
    "recipe_job", "dev_eval_job", "merge_models", "verify",
]

_LAZY = {
    "PreparedTask": "tasks.prepare", "prepare_task": "tasks.prepare", "recipe_job": "tasks.jobs",
    "dev_eval_job": "tasks.jobs", "merge_models": "tasks.merge", "verify": "tasks.verifier",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
