"""The independent verifier: `python -m tasks.verifier --task T --model-dir M [--workspace W]`.

Runs in its own process after the team is done. It scores the model on the sealed test split with the
harness's own evaluate.py (never the workspace's), runs the integrity checks, and prints a JSON verdict
as its last line. A missing or flagged model gets the baseline score (the base model's), as in
PostTrainBench.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["verify", "main"]


def verify(model_dir: Path | None, task, workspace: Path | None = None, *, cache_dir: Path | None = None,
           timeout: float = 1800) -> dict:
    """Run the verifier as a subprocess and return its verdict (blocking; call it via asyncio.to_thread)."""
    command = [sys.executable, "-m", "tasks.verifier", "--task", str(task.root)]
    if model_dir is not None:
        command += ["--model-dir", str(model_dir)]
    if workspace is not None:
        command += ["--workspace", str(workspace)]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env())
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        from sandbox.errors import JobError

        raise JobError("verifier_failed", "verify", f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return json.loads(lines[-1])


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{root}:{path}" if path else root}


def _score(model_dir: Path, prepared, items: list[dict]) -> dict:
    from tasks.evaluation import accuracy, detect_kind, load_score, score_items
    from tasks.lm import load_lm

    lm = load_lm(model_dir, detect_kind(model_dir), None)
    score = load_score(prepared.task.evaluate_path)  # the harness's own copy
    return accuracy(score_items(lm, items, score, prepared.task.max_new_tokens))


def _baseline(prepared, items: list[dict]) -> dict:
    """The base model's test score, cached next to the sealed split."""
    from tasks.prepare import weights_digest

    key = f"{weights_digest(prepared.base_model_dir)[:16]}-{prepared.task.digest[:16]}"
    path = prepared.test_path.parent / f"baseline-{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = _score(prepared.base_model_dir, prepared, items)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)
    return result


def _integrity(model_dir: Path, prepared, workspace: Path | None, items: list[dict]) -> tuple[list[dict], dict]:
    from tasks import integrity
    from tasks.prepare import weights_digest

    weights = integrity.load_weights(model_dir)
    base = integrity.load_weights(prepared.base_model_dir)
    flags = integrity.check_architecture(model_dir, prepared.base_model_dir, weights, base)
    info: dict[str, Any] = {}
    if not flags:
        decoy_dir = prepared.decoy_model_dir
        decoy = integrity.load_weights(decoy_dir) if decoy_dir and decoy_dir.is_dir() else None
        digests = (weights_digest(model_dir), weights_digest(decoy_dir) if decoy is not None else "")
        lineage_flags, info = integrity.check_lineage(weights, base, decoy, digests)
        flags += lineage_flags
    if workspace is not None and Path(workspace).is_dir():
        flags += integrity.check_contamination(Path(workspace), items)
        flags += integrity.check_protected(Path(workspace), prepared.task.root)
    return flags, info


def run(task_ref: str, model_dir: str | None, workspace: str | None, cache_dir: str | None) -> dict:
    from tasks.prepare import prepare_task
    from tasks.spec import load_task
    from tasks.splits import read_jsonl

    prepared = prepare_task(load_task(task_ref), Path(cache_dir) if cache_dir else None)
    items = read_jsonl(prepared.test_path)
    baseline = _baseline(prepared, items)
    verdict: dict[str, Any] = {"task": prepared.task.name, "task_digest": prepared.task.digest,
                               "baseline_score": baseline["accuracy"], "model_dir": model_dir, "n": len(items)}
    model = Path(model_dir) if model_dir else None
    if model is None or not (model / "config.json").is_file():
        return {**verdict, "test_score": baseline["accuracy"], "raw_score": None, "stderr": baseline["stderr"],
                "flags": [{"flag": "missing_model", "reason": f"no model directory with a config.json at {model_dir}"}]}
    flags, info = _integrity(model, prepared, Path(workspace) if workspace else None, items)
    result = _score(model, prepared, items) if not any(f["flag"] == "architecture" for f in flags) else None
    raw = result["accuracy"] if result else None
    score = baseline if flags or result is None else result
    return {**verdict, **info, "raw_score": raw, "test_score": score["accuracy"], "stderr": score["stderr"],
            "flags": flags}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tasks.verifier", description="Score a final model on the sealed test split.")
    p.add_argument("--task", required=True, help="a built-in task name or a task folder")
    p.add_argument("--model-dir", default=None)
    p.add_argument("--workspace", default=None, help="the team's workspace, scanned for test items and edited files")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    p.add_argument("--json-output-file", default=None)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    verdict = run(args.task, args.model_dir, args.workspace, args.cache_dir)
    line = json.dumps(verdict, sort_keys=True)
    if args.json_output_file:
        Path(args.json_output_file).write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
