"""The verifier's program inside its sandbox: `python -m tasks.verdict --kit KIT --model-dir M ...`.

It reads only its kit (the harness's pristine copies of the task's evaluate.py and templates, the
sealed test split, and the task's name, digest and token limit), the model directory, the base model,
the decoy and the workspace, all read-only, and writes `verdict.json` in its work dir. `tasks.verifier`
builds the kit, runs this as a sandbox job and returns the verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["judge", "main"]


def _score(model_dir: Path, kit: Path, card: dict, items: list[dict], name: str = "model") -> dict:
    if card.get("evaluator", "home") != "home":
        return _benchmark_score(model_dir, kit, card, Path("eval") / name)
    from tasks.evaluation import accuracy, detect_kind, load_score, score_items
    from tasks.lm import load_lm

    lm = load_lm(model_dir, detect_kind(model_dir), None)
    score = load_score(kit / "evaluate.py")  # the kit's pristine copy
    return accuracy(score_items(lm, items, score, card["max_new_tokens"]))


def _benchmark_score(model_dir: Path, kit: Path, card: dict, log_dir: Path) -> dict:
    """The kit's evaluation of a whole model: Inspect AI on the sealed split (or the task's own items), or
    a PostTrainBench folder's evaluate.py on all its items; the log goes to the verifier's eval/."""
    device = "cuda:0" if card.get("device") == "cuda" else "cpu"
    if card["evaluator"] == "ptb":
        from tasks.ptb import run_ptb

        return run_ptb(kit, model_dir, -1, log_dir, card.get("max_tokens_arg"))
    from tasks.inspect_eval import evaluate, load_spec

    items = kit / "test.jsonl" if card.get("sealed") else None
    out = evaluate(load_spec(kit / "benchmark.json"), model_dir, items=items, log_dir=log_dir,
                   provider=card.get("provider"), device=device)
    return {"accuracy": out["accuracy"], "stderr": out["stderr"], "n": out["n"]}


def _integrity(model_dir: Path, base_dir: Path, decoy_dir: Path | None, kit: Path, workspace: Path | None,
               items: list[dict]) -> tuple[list[dict], dict]:
    from tasks import integrity
    from tasks.prepare import weights_digest

    weights = integrity.load_weights(model_dir)
    base = integrity.load_weights(base_dir)
    flags = integrity.check_architecture(model_dir, base_dir, weights, base)
    info: dict[str, Any] = {}
    if not flags:
        decoy = integrity.load_weights(decoy_dir) if decoy_dir and decoy_dir.is_dir() else None
        digests = (weights_digest(model_dir), weights_digest(decoy_dir) if decoy is not None else "")
        lineage_flags, info = integrity.check_lineage(weights, base, decoy, digests)
        flags += lineage_flags
    if workspace is not None and workspace.is_dir():
        flags += integrity.check_contamination(workspace, items)
        flags += integrity.check_protected(workspace, kit)
    return flags, info


def judge(kit: Path, model_dir: Path | None, base_dir: Path, decoy_dir: Path | None,
          workspace: Path | None) -> dict:
    """The verdict: baseline and test score, flags; a missing or flagged model gets the baseline."""
    from tasks.splits import read_jsonl

    card = json.loads((kit / "task.json").read_text())
    items = read_jsonl(kit / "test.jsonl")
    baseline = card.get("baseline") or _score(base_dir, kit, card, items, "baseline")
    verdict: dict[str, Any] = {"task": card["name"], "task_digest": card["digest"], "n": baseline.get("n", len(items)),
                               "baseline_score": baseline["accuracy"], "baseline": baseline,
                               "model_dir": str(model_dir) if model_dir else None}
    advisory = _advisories(card)
    if model_dir is None or not (model_dir / "config.json").is_file():
        return {**verdict, "test_score": baseline["accuracy"], "raw_score": None, "stderr": baseline["stderr"],
                "flags": [{"flag": "missing_model", "reason": f"no model directory with a config.json at {model_dir}"},
                          *advisory]}
    flags, info = _integrity(model_dir, base_dir, decoy_dir, kit, workspace, items)
    result = _score(model_dir, kit, card, items) if not any(f["flag"] == "architecture" for f in flags) else None
    raw = result["accuracy"] if result else None
    score = baseline if flags or result is None else result
    return {**verdict, **info, "raw_score": raw, "test_score": score["accuracy"], "stderr": score["stderr"],
            "flags": flags + advisory}


def _advisories(card: dict) -> list[dict]:
    """Flags that say what a task cannot give and change no score (`advisory`: true)."""
    if card.get("evaluator", "home") == "home" or card.get("sealed", True):
        return []
    return [{"flag": "unsealed_split", "advisory": True,
             "reason": "the benchmark's dev evaluation scores a --limit of the same items the verifier scores "
                       "(as in PostTrainBench); there is no sealed test split"}]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tasks.verdict", description=__doc__.splitlines()[0])
    p.add_argument("--kit", required=True, type=Path)
    p.add_argument("--model-dir", type=Path, default=None)
    p.add_argument("--base-model", required=True, type=Path)
    p.add_argument("--decoy", type=Path, default=None)
    p.add_argument("--workspace", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="verdict.json")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, args.threads))
    verdict = judge(args.kit, args.model_dir, args.base_model, args.decoy, args.workspace)
    Path(args.out).write_text(json.dumps(verdict, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
