"""Common random numbers across configs: do two configs trained with the same seed score alike? (issue 21, point 5)

A study pairs its arms by seed. Its plan assumes two arms that train different configs are independent (paired
sd = √2 × the seed-to-seed sd), which is true when each config's training seed is its own (seeds by config). If
the same seed (the same draw of training examples) moved the scores of different configs together, a seed shared
by every config of a cell would make paired differences smaller than that. This measures it: the task's starter
with config A and each config B, seeds 0..N-1, on the CPU clock (two jobs side by side: a job's work follows its
steps and token horizon, not its neighbour), each final model scored by the verifier on the sealed test split.
Prints per seed the scores and differences, each config's sd, the sd of the paired differences, their
correlation, and the MDE at N seeds both ways.

Run: `.venv/bin/python benchmarks/bench_crn.py [--task arith-hf] [--seeds 5] [--seconds 180]
[--a '{"lr": 0.003, "steps": 400, "batch_size": 32}'] [--b '{"lr": 0.002, ...}' ...] [--logs DIR]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REFERENCE = {"lr": 3.0e-3, "steps": 400, "batch_size": 32, "schedule": "cosine"}  # arith-hf's reference recipe
VARIANTS = ({**REFERENCE, "lr": 2.0e-3}, {**REFERENCE, "batch_size": 48})


async def _jobs(prepared, solutions: list, seconds: float, root: Path) -> list:
    from sandbox import DeviceSlots, LocalExecutor, on_cpu_clock
    from tasks.jobs import solution_job

    executor = LocalExecutor(root, DeviceSlots.declared(cpu_slots=2))

    async def one(solution):
        job = on_cpu_clock(solution_job(prepared, solution, wall_seconds=seconds))
        return await executor.wait(await executor.submit(job))

    try:
        return await asyncio.gather(*(one(s) for s in solutions))
    finally:
        await executor.close()  # the slot's warm worker goes with this event loop


def _name(n: int) -> str:
    return "A" if n == 0 else f"B{n}"


def _score(prepared, result, logs: Path | None = None) -> dict:
    from tasks import verify

    model = Path(result.workdir) / "final_model"
    summary = result.summary() if result.ok else {}
    ok = result.ok and model.is_dir()
    test = verify(model, prepared.task, log_dir=logs)["test_score"] if ok else None
    return {"stopped": summary.get("stopped"), "cpu": round(result.cpu_seconds or 0.0, 1), "test": test}


def main() -> None:
    from tasks import load_task, prepare_task, set_constants, starter
    from team.studies.power import mde

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="arith-hf")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=180.0, help="each job's limit (CPU-seconds)")
    p.add_argument("--a", default=json.dumps(REFERENCE), help="config A (JSON; unlisted knobs keep the starter's)")
    p.add_argument("--b", action="append", default=None, help="a config B (JSON), repeatable")
    p.add_argument("--json", default=None, help="also write the rows here")
    p.add_argument("--logs", default=None, help="keep each final model's Inspect logs in LOGS/s<seed>-<config>/")
    args = p.parse_args()
    configs = [json.loads(args.a)] + [json.loads(b) for b in (args.b or [json.dumps(v) for v in VARIANTS])]
    prepared = prepare_task(load_task(args.task))
    base = starter(prepared.task)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_crn_") as tmp:
        for seed in range(args.seeds):
            solutions = [set_constants(base, {**c, "seed": seed}) for c in configs]
            results = asyncio.run(_jobs(prepared, solutions, args.seconds, Path(tmp) / f"s{seed}"))
            for n, result in enumerate(results):
                logs = Path(args.logs) / f"s{seed}-{_name(n)}" if args.logs else None
                rows.append({"seed": seed, "config": n, **_score(prepared, result, logs)})
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"configs": configs, "rows": rows}, indent=1))
    test = {(r["seed"], r["config"]): r["test"] for r in rows}
    print(f"\n{args.task} starter, {args.seeds} seeds (the same seed for every config), {args.seconds:g} CPU-seconds "
          f"per job\n")
    for n, c in enumerate(configs):
        print(f"- config {_name(n)}: {json.dumps(c)}")
    seeds = [s for s in range(args.seeds) if all(test[s, n] is not None for n in range(len(configs)))]
    lost = [f"s{r['seed']} {_name(r['config'])}" for r in rows if r["test"] is None]
    if lost:
        print(f"\nno final model (the job failed or its limit stopped it before it saved one): {', '.join(lost)}; "
              f"the tables use the seeds every config scored: {len(seeds)}")
    if len(seeds) < 2:
        sys.exit("bench_crn: fewer than two seeds where every config scored; nothing to compare (a longer --seconds?)")
    a = [test[s, 0] for s in seeds]
    print("\n| config | per seed | mean | sd | stopped |\n|---|---|---|---|---|")
    for n in range(len(configs)):
        v = [test[s, n] for s in seeds]
        stops = ", ".join(sorted({str(r["stopped"]) for r in rows if r["config"] == n}))
        print(f"| {_name(n)} | {' · '.join(f'{x:.3f}' for x in v)} | {statistics.fmean(v):.3f} | "
              f"{statistics.stdev(v):.4f} | {stops} |")
    print("\n| B − A | per seed | mean | paired sd | √2 × sd(A) | correlation | MDE by paired sd | MDE by √2 × sd(A) |")
    print("|---|---|---|---|---|---|---|---|")
    for n in range(1, len(configs)):
        b = [test[s, n] for s in seeds]
        d = [y - x for x, y in zip(a, b, strict=True)]
        sd_d, sd_a = statistics.stdev(d), statistics.stdev(a)
        r = statistics.correlation(a, b) if len(seeds) > 2 and sd_a and statistics.stdev(b) else float("nan")
        print(f"| {_name(n)} | {' · '.join(f'{x:+.3f}' for x in d)} | {statistics.fmean(d):+.3f} | {sd_d:.4f} | "
              f"{2 ** 0.5 * sd_a:.4f} | {r:+.2f} | {mde(sd_d, len(seeds)):.3f} | {mde(2 ** 0.5 * sd_a, len(seeds)):.3f} |")


if __name__ == "__main__":
    main()
