"""What a task's `evaluate.py` runs: load a model directory, decode the split's prompts greedily, score
each answer with the task's `score(prediction, answer)`, write `{"accuracy", "stderr", "n"}`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["main", "accuracy", "score_items", "detect_kind", "load_score"]

Score = Callable[[str, str], bool]


def detect_kind(model_dir: Path) -> str:
    """`tiny` for the built-in architecture, `hf` for anything else with a config.json."""
    from tasks.tinylm import ARCH

    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return "tiny"
    return "tiny" if config.get("arch") == ARCH else "hf"


def score_items(lm, items: Sequence[dict], score: Score, max_new_tokens: int) -> list[bool]:
    """Each item right or not: greedy decoding judged by `score(prediction, answer)`, or, for a task scored
    by its own evaluation of a whole model (Inspect AI, a PostTrainBench folder), that evaluation."""
    if hasattr(score, "score_lm"):
        return score.score_lm(lm, items, max_new_tokens)
    from tasks.lm import greedy

    predictions = greedy(lm, [item["prompt"] for item in items], max_new_tokens)
    return [bool(score(p, item["answer"])) for p, item in zip(predictions, items, strict=True)]


def accuracy(correct: Sequence[bool]) -> dict:
    n = len(correct)
    acc = sum(correct) / n if n else 0.0
    return {"accuracy": acc, "stderr": math.sqrt(acc * (1 - acc) / n) if n else 0.0, "n": n}


def load_score(evaluate_py: Path) -> Score:
    """The `score` function of a task's evaluate.py (imported, not run); for a task whose card (task.json
    beside it) names another evaluator, a `tasks.selfcheck.TaskEvaluation` (evaluate.py is not imported)."""
    from tasks.splits import _load_module

    card_path = Path(evaluate_py).with_name("task.json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    if card.get("evaluator", "home") != "home":
        from tasks.selfcheck import TaskEvaluation

        return TaskEvaluation(Path(evaluate_py).parent, card)

    return _load_module(Path(evaluate_py), f"synthteam_task_eval_{Path(evaluate_py).parent.name}").score


def _parser(max_new_tokens: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Score a model directory on a task split (greedy, one point per item).")
    p.add_argument("--model-path", required=True)
    p.add_argument("--split-file", default=os.environ.get("SYNTHTEAM_DEV_SPLIT"), help="items (JSON lines); default $SYNTHTEAM_DEV_SPLIT")
    p.add_argument("--limit", type=int, default=-1, help="score only the first N items (-1: all)")
    p.add_argument("--json-output-file", default=None)
    p.add_argument("--max-tokens", type=int, default=max_new_tokens)
    p.add_argument("--templates-dir", default=None, help="accepted for PostTrainBench compatibility; unused")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available for hf models)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    return p


def main(score: Score, max_new_tokens: int = 32, argv: list[str] | None = None) -> dict:
    args = _parser(max_new_tokens).parse_args(argv)
    if not args.split_file:
        sys.exit("error: --split-file is required (or set SYNTHTEAM_DEV_SPLIT)")
    import torch

    from tasks.lm import load_lm
    from tasks.splits import read_jsonl

    torch.set_num_threads(max(1, args.threads))
    items = read_jsonl(Path(args.split_file))
    items = items if args.limit is None or args.limit < 0 else items[: args.limit]
    lm = load_lm(Path(args.model_path), detect_kind(Path(args.model_path)), args.device)
    result = accuracy(score_items(lm, items, score, args.max_tokens))
    if args.json_output_file:
        Path(args.json_output_file).write_text(json.dumps(result))
    print(json.dumps(result))
    return result
