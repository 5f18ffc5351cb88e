"""Solutions as programs, measured: (1) the starter's train.py against the knob recipe (`tasks.recipe`)
in tokens/s, same task, same constants, interleaved pairs; (2) the starter against each operator, as
sandboxed jobs scored by the harness on dev and by the verifier on the sealed test split.

    python benchmarks/bench_solutions.py throughput [--task reverse] [--seconds 30] [--pairs 3]
    python benchmarks/bench_solutions.py operators [--task reverse] [--seconds 60] [--seeds 0 1 2] [--out ops.json]

Runs under the machine's training lock on a shared machine: `flock /tmp/synthteam-cpu.lock python ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def _job(job, root: Path):
    from sandbox import DeviceSlots, LocalExecutor

    executor = LocalExecutor(root, DeviceSlots.declared(cpu_slots=1))
    return await executor.wait(await executor.submit(job))


def throughput(args) -> None:
    from tasks import load_task, prepare_task, recipe_job
    from tasks.jobs import solution_job
    from tasks.solutions import starter

    prepared = prepare_task(load_task(args.task))
    solution = starter(prepared.task)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            jobs = [("recipe", recipe_job(prepared, prepared.task.defaults(), wall_seconds=args.seconds)),
                    ("train.py", solution_job(prepared, solution, wall_seconds=args.seconds))]
            if i % 2:
                jobs.reverse()  # alternate which goes first, so load drifting over time hits both
            pair = {}
            for name, job in jobs:
                result = asyncio.run(_job(job, Path(tmp) / f"{name}-{i}"))
                pair[name] = int(result.summary()["train_tokens_per_s"])
            rows.append(pair)
            print(f"pair {i}: recipe {pair['recipe']:,} tok/s, train.py {pair['train.py']:,} tok/s, "
                  f"ratio {pair['train.py'] / pair['recipe']:.3f}", flush=True)
    ratios = [r["train.py"] / r["recipe"] for r in rows]
    print(f"\n| task | pairs: recipe / train.py tok/s | median ratio |\n|---|---|---|\n| {args.task} | "
          + " · ".join(f"{r['recipe']:,} / {r['train.py']:,}" for r in rows) + f" | **{statistics.median(ratios):.3f}** |")


def _arms(task, seed: int) -> list[tuple[str, object, str]]:
    from roles.operators import OPERATORS, apply_operator
    from tasks.solutions import set_constants, starter

    base = set_constants(starter(task), {"seed": seed})
    arms = [("starter", base, "")]
    for name in OPERATORS:
        solution, note = apply_operator(name, base, random.Random(0))
        arms.append((name, solution, note))
    return arms


def operators(args) -> None:
    from tasks import load_task, prepare_task, verify
    from tasks.trial import run_solution

    prepared = prepare_task(load_task(args.task))
    rows = json.loads(Path(args.out).read_text()) if args.out and Path(args.out).exists() else []
    done = {(r["arm"], r["seed"]) for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for arm, solution, note in _arms(prepared.task, seed):
                if (arm, seed) in done:
                    continue
                out = Path(tmp) / f"{arm}-{seed}"
                started = time.perf_counter()
                outcome = asyncio.run(run_solution(prepared, solution, seconds=args.seconds, out=out))
                verdict = verify(Path(outcome.final_model), prepared.task, out) if outcome.final_model else None
                row = {"arm": arm, "seed": seed, "note": note, "status": outcome.status,
                       "harness_dev": outcome.harness_dev, "reported_dev": outcome.reported_dev,
                       "test": verdict["test_score"] if verdict else None,
                       "flags": [f["flag"] for f in (verdict or {}).get("flags", [])],
                       "steps": (outcome.metrics and max((m.get("step", 0) for m in outcome.metrics), default=0)),
                       "seconds": round(time.perf_counter() - started, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    Path(args.out).write_text(json.dumps(rows, indent=1))
    print(table(rows))


def table(rows: list[dict]) -> str:
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})

    def mean(arm: str, key: str) -> float:
        values = [r[key] or 0.0 for r in rows if r["arm"] == arm]
        return statistics.mean(values) if values else float("nan")

    lines = ["| arm | harness dev (per seed) | mean dev | test (per seed) | mean test | Δ test vs starter |",
             "|---|---|---|---|---|---|"]
    for arm in arms:
        per = {r["seed"]: r for r in rows if r["arm"] == arm}
        dev = " · ".join(f"{(per[s]['harness_dev'] or 0):.3f}" if s in per else "-" for s in seeds)
        test = " · ".join(f"{(per[s]['test'] or 0):.3f}" if s in per else "-" for s in seeds)
        delta = mean(arm, "test") - mean("starter", "test")
        lines.append(f"| {arm} | {dev} | {mean(arm, 'harness_dev'):.3f} | {test} | {mean(arm, 'test'):.3f} | "
                     f"{'' if arm == 'starter' else f'{delta:+.3f}'} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--task", default="reverse")
    t.add_argument("--seconds", type=float, default=30)
    t.add_argument("--pairs", type=int, default=3)
    o = sub.add_parser("operators")
    o.add_argument("--task", default="reverse")
    o.add_argument("--seconds", type=float, default=60)
    o.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    o.add_argument("--out", default=None, help="JSON rows (resumes: arms already in it are not run again)")
    o.add_argument("--table", action="store_true", help="only print the table of --out")
    args = p.parse_args()
    if args.mode == "operators" and args.table:
        print(table(json.loads(Path(args.out).read_text())))
    else:
        (throughput if args.mode == "throughput" else operators)(args)


if __name__ == "__main__":
    main()
