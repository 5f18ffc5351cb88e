"""Built-in tasks: baseline, decoy and reference-recipe test scores (the verifier's numbers), and the
recipe's training tokens/s against a bare torch loop on the same model, data and batch shapes.

    python benchmarks/bench_tasks.py [--seconds 60] [--repeats 3] [--tasks reverse add3 fncall]

With --repeats N, each task runs N (reference job, bare loop) pairs back to back; the scores are the
first pair's, the throughput columns are medians over the pairs and the ratio is the median of the
per-pair ratios, so a burst of load from elsewhere on a shared machine moves one pair, not the result.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_reference(prepared, seconds: float, work: Path) -> dict:
    from tasks import recipe_job

    job = recipe_job(prepared, dict(prepared.task.reference), wall_seconds=seconds)
    work.mkdir(parents=True)
    (work / "config.json").write_text(job.files["config.json"])
    env = {**os.environ, **job.env, "SYNTHTEAM_METRICS": str(work / "metrics.jsonl")}
    proc = subprocess.run(job.command, cwd=work, env=env, capture_output=True, text=True)
    return dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)


def bare_loop(prepared, seconds: float, batch: int) -> float:
    """Forward, loss, backward, AdamW step on the tiny model; one thread; nothing else."""
    import torch

    from tasks import training
    from tasks.lm import load_lm
    from tasks.splits import load_generator, make_items

    torch.set_num_threads(1)
    lm = load_lm(prepared.base_model_dir)
    items = make_items(load_generator(prepared.task.root), random.Random(0), 20000, 0.5, "train")
    data = training.encode_pairs(lm.encode, [(i["prompt"], i["answer"]) for i in items], lm.eos_id, lm.ctx)
    opt = torch.optim.AdamW(lm.model.parameters(), lr=1e-3)
    gen, tokens, start = torch.Generator().manual_seed(0), 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ids, targets = training._batch(data, torch.randint(len(data.ids), (batch,), generator=gen), lm.device)
        loss = training._loss(lm.model, ids, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tokens += ids.numel()
    return tokens / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="wall limit of each reference-recipe job")
    p.add_argument("--repeats", type=int, default=1, help="(reference job, bare loop) pairs per task")
    p.add_argument("--bare-seconds", type=float, default=15.0, help="length of each bare-loop measurement")
    p.add_argument("--tasks", nargs="*", default=None)
    args = p.parse_args()
    from tasks import list_tasks, prepare_task, verify

    work = Path(tempfile.mkdtemp(prefix="bench-tasks-"))
    rows = []
    for task in list_tasks():
        if args.tasks and task.name not in args.tasks:
            continue
        prepared = prepare_task(task)
        decoy = verify(prepared.decoy_model_dir, task)
        pairs = []
        for rep in range(max(1, args.repeats)):
            summary = run_reference(prepared, args.seconds, work / task.name / f"r{rep}")
            bare = bare_loop(prepared, args.bare_seconds, int(task.reference["batch_size"]))
            pairs.append((float(summary.get("train_tokens_per_s", 0)), bare, summary))
            print(f"{task.name} pair {rep + 1}: recipe {pairs[-1][0]:,.0f} tok/s, bare {bare:,.0f} tok/s", flush=True)
        summary = pairs[0][2]
        ref = verify(work / task.name / "r0" / "final_model", task)
        ratio = statistics.median(r / b for r, b, _ in pairs)
        rows.append((task.name, decoy["baseline_score"], decoy["raw_score"], ref["test_score"], summary.get("dev_accuracy"),
                     summary.get("steps"), statistics.median(r for r, _, _ in pairs),
                     statistics.median(b for _, b, _ in pairs), ratio, ",".join(f["flag"] for f in ref["flags"]) or "-"))
    print(f"\nbuilt-in tasks: reference recipe, {args.seconds:g}s job, 1 thread; throughput: median of {args.repeats} pair(s)")
    print(f"{'task':<8} {'baseline':>8} {'decoy':>6} {'ref test':>8} {'ref dev':>7} {'steps':>6} {'recipe tok/s':>12} {'bare tok/s':>10} {'ratio':>6} flags")
    for r in rows:
        print(f"{r[0]:<8} {r[1]:>8.3f} {r[2]:>6.3f} {r[3]:>8.3f} {r[4]:>7} {r[5]:>6} {r[6]:>12,.0f} {r[7]:>10,.0f} {r[8]:>6.1%} {r[9]}")


if __name__ == "__main__":
    main()
