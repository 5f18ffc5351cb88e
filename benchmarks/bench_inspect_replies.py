"""Inspect's hf provider as it ships (each waiting sample looks at its reply once a second) against
`tasks.inspect_eval` (each sample awaits its reply): wall and CPU seconds of one evaluation, on the same model
and items, in one process, one thread, the paths alternating.

    python benchmarks/bench_inspect_replies.py [--repeats 2] [--sizes 64 768] [--model DIR]

Items are arith-hf's pool (train.jsonl's problems, as many as a size asks, the first ones), the model the task's
base model unless --model names another. "same" says whether both paths gave every item the same completion.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _one(ie, spec: Path, model: Path, items: list[dict]) -> tuple[float, float, list[str]]:
    from inspect_ai.log import read_eval_log

    cpu, wall = time.process_time(), time.monotonic()
    with tempfile.TemporaryDirectory() as logs:
        out = ie.evaluate_items(spec, model, items, Path(logs), device="cpu")
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        log = read_eval_log(out["log"])
    return wall, cpu, [s.output.completion for s in sorted(log.samples, key=lambda s: int(s.id))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 768])
    p.add_argument("--model", type=Path, default=None)
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    import tasks.inspect_eval as ie
    from tasks import load_task, prepare_task
    from tasks.splits import read_jsonl

    ie.warm_imports()
    import inspect_ai.model._providers.hf as hf

    prepared = prepare_task(load_task("arith-hf"))
    model = args.model or prepared.base_model_dir
    spec = prepared.visible_dir / "benchmark.json"
    pool = [{"prompt": r["prompt"], "answer": r["answer"]} for r in read_jsonl(prepared.train_path)]
    install = ie._replies_without_polling
    stock = hf.batched_generate
    paths = {"polled (as shipped)": lambda: (setattr(ie, "_replies_without_polling", lambda: None),
                                             setattr(hf, "batched_generate", stock)),
             "awaited (synthteam)": lambda: setattr(ie, "_replies_without_polling", install)}
    _one(ie, spec, model, pool[:8])  # load what the first evaluation loads lazily
    print(f"model {model}, one thread\n")
    print("| items | path | wall s (median) | CPU s (median) | CPU / wall | same completions |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        items = pool[:size]
        got: dict[str, list] = {name: [] for name in paths}
        answers: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for name, use in paths.items():
                use()
                wall, cpu, completions = _one(ie, spec, model, items)
                got[name].append((wall, cpu))
                answers[name] = completions
        same = "yes" if len({tuple(a) for a in answers.values()}) == 1 else "no"
        for name, runs in got.items():
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(f"| {len(items)} | {name} | {wall:.2f} | {cpu:.2f} | {cpu / wall:.2f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
