"""An Inspect AI evaluation through the harness against the home-made one (tasks/evaluation.py), on the same
model and the same items: the built-in arith-hf task's dev split (64 word problems), CPU, one thread.

    python benchmarks/bench_inspect.py [--repeats 3] [--model DIR]

- inspect: the harness's own dev evaluation job (`tasks.jobs.dev_eval_job`): its command run as a plain
  subprocess, `python -m tasks.inspect_eval ...`, inspect_ai.eval with the hf provider, the score read
  from the .eval log. Its imports (inspect_ai, its hf provider with torch and transformers, what eval loads
  lazily) are timed on their own; "eval" is the rest: the model, the samples, the log.
- home-made: greedy decoding with tasks.lm (batches of equal-length prompts, the model's own generate),
  the same rendered prompts (the chat template) and token limit, the answer's last number against the
  target; its imports (torch, transformers) timed on their own.

Each repeat runs one of each, back to back, in fresh processes; the table shows medians (and the ratio the
median of the per-repeat ratios). The default model is arith-lm (the base: it writes up to the token limit on
every item, the slowest case); --model takes a fine-tuned final_model/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def homemade(visible: Path, model: Path, max_tokens: int) -> dict:
    """One home-made evaluation in this process (run in a fresh one by `main`)."""
    started = time.perf_counter()
    import re

    import torch
    import transformers  # noqa: F401 - part of the imports, as the hf kind loads it

    from tasks.chat import use_task_format
    from tasks.evaluation import accuracy
    from tasks.lm import greedy, load_lm
    from tasks.splits import read_jsonl

    imports = time.perf_counter() - started
    torch.set_num_threads(1)
    tick = time.perf_counter()
    lm = load_lm(model, "hf", "cpu")
    use_task_format(lm, visible, json.loads((visible / "task.json").read_text()))
    items = read_jsonl(visible / "dev.jsonl")
    outputs = greedy(lm, [lm.prompt_of(i) for i in items], max_tokens)
    numbers = [re.findall(r"-?\d+", o) for o in outputs]
    right = [bool(n) and n[-1] == i["answer"] for n, i in zip(numbers, items, strict=True)]
    return {**accuracy(right), "import_seconds": imports, "eval_seconds": time.perf_counter() - tick}


def run_inspect(prepared, model: Path) -> dict:
    """The harness's dev evaluation job's command, as a plain subprocess in a fresh folder."""
    from tasks.jobs import dev_eval_job

    job = dev_eval_job(prepared, model, wall_seconds=600)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in job.files.items():
            (Path(tmp) / name).write_text(text)
        env = {**os.environ, **job.env}
        started = time.perf_counter()
        proc = subprocess.run(job.command, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"the Inspect evaluation failed: {proc.stderr.strip().splitlines()[-1:]}")
        row = json.loads((Path(tmp) / "dev_eval.json").read_text())
    return {**row, "wall_seconds": wall}


def run_homemade(prepared, model: Path) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench_inspect import homemade; "
            f"print(json.dumps(homemade(*map(__import__('pathlib').Path, sys.argv[1:3]), int(sys.argv[3]))))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_VERBOSITY": "error"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(prepared.visible_dir), str(model),
                           str(prepared.task.max_new_tokens)], capture_output=True, text=True, env=env, check=True)
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall_seconds": time.perf_counter() - started}


def _row(name: str, runs: list[dict]) -> str:
    med = {k: statistics.median(r[k] for r in runs) for k in ("import_seconds", "eval_seconds", "wall_seconds")}
    return (f"| {name} | {med['import_seconds']:.2f} | {med['eval_seconds']:.2f} | {med['wall_seconds']:.2f} | "
            f"{runs[0]['accuracy']:.3f} | {runs[0]['n']} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", type=Path, default=None, help="a model directory (default: arith-lm, the base)")
    args = p.parse_args()
    from tasks import load_task, prepare_task

    prepared = prepare_task(load_task("arith-hf"))
    model = (args.model or prepared.base_model_dir).resolve()
    inspect_runs, home_runs = [], []
    for _ in range(args.repeats):
        inspect_runs.append(run_inspect(prepared, model))
        home_runs.append(run_homemade(prepared, model))
    ratios = [i["eval_seconds"] / h["eval_seconds"] for i, h in zip(inspect_runs, home_runs, strict=True)]
    print(f"arith-hf dev split, model {model.name}, {args.repeats} repeats, medians (seconds)\n")
    print("| evaluation | imports | eval | process wall | accuracy | n |\n|---|---|---|---|---|---|")
    print(_row("Inspect AI via the harness (hf provider)", inspect_runs))
    print(_row("home-made (tasks.lm greedy)", home_runs))
    print(f"\nInspect / home-made, eval without imports: {statistics.median(ratios):.2f}x "
          f"(per repeat: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
