"""A job's own checks of the weights it is training, with the task's own evaluation.

For a task scored by Inspect AI (or a PostTrainBench folder), `tasks.evaluation.load_score` on the visible
evaluate.py returns a `TaskEvaluation`, and `tasks.evaluation.score_items` hands it the model: the current
weights are saved as a plain model directory in the job's work dir and scored on the given items by the
same evaluation the harness runs (its log goes to the job's `eval/`). The starter and the recipe call it
as they call a home-made scorer, so one program fits every task.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["TaskEvaluation", "LOG_DIR"]

LOG_DIR = Path("eval")  # in the job's work dir, beside final_model/


class TaskEvaluation:
    """The task's evaluation as a job's scorer of a whole model (not of one prediction string)."""

    def __init__(self, visible: Path, card: Mapping[str, Any]):
        self.visible, self.card = Path(visible), dict(card)

    def __call__(self, prediction: str, answer: str) -> bool:
        raise TypeError("this task is scored by its evaluation of a whole model: use tasks.evaluation.score_items")

    def score_lm(self, lm: Any, items: Sequence[Mapping], max_new_tokens: int) -> list[bool]:
        """Each item right or not, by the task's evaluation of `lm`'s current weights."""
        from tasks.hf import save_copy

        if not items and self.card.get("benchmark_source", "dataset") == "dataset":
            return []
        folder = Path(tempfile.mkdtemp(prefix=".selfcheck-", dir=os.getcwd()))
        try:
            model = save_copy(lm, folder / "model")
            if self.card.get("evaluator") == "ptb":
                return self._ptb(model, len(items) or None, folder)
            device = "cuda:0" if getattr(lm.device, "type", "cpu") == "cuda" else "cpu"
            return self._inspect(model, items, max_new_tokens, device)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _inspect(self, model: Path, items: Sequence[Mapping], max_new_tokens: int, device: str) -> list[bool]:
        from tasks.inspect_eval import evaluate, evaluate_items, load_spec

        spec = self.visible / "benchmark.json"
        if self.card.get("benchmark_source", "dataset") == "dataset":
            out = evaluate_items(spec, model, list(items), LOG_DIR, max_tokens=max_new_tokens, device=device)
        else:  # an Inspect task's own items: the first len(items) of them (PostTrainBench's --limit)
            out = evaluate(load_spec(spec), model, limit=len(items) or None, log_dir=LOG_DIR,
                           max_tokens=max_new_tokens, samples=True, device=device)
        return [value >= 1.0 for value in out["correct"]]

    def _ptb(self, model: Path, limit: int | None, folder: Path) -> list[bool]:
        """The folder's evaluate.py as a PostTrainBench agent runs it; it reports an accuracy only, so the
        list holds that many right answers."""
        from tasks.ptb import run_ptb

        out = run_ptb(self.visible, model, limit or -1, LOG_DIR, self.card.get("max_tokens_arg"))
        n = limit or out.get("n") or 1
        right = round(out["accuracy"] * n)
        return [True] * right + [False] * (n - right)
