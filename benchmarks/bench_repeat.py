"""The same job twice: does one config with one seed give one model? (issue 21, point 5: what a study's noise is made of)

Runs the task's starter with a config (default: its own constants, the study's prior) `--repeats` times with the
same seed, on the CPU clock, one job at a time, and scores each final model with the verifier on the sealed test
split. Then the same with the config's `steps` capped at `--steps` (a count that fits the limit, so that the run
ends by its steps and its schedule and checkpoint evaluations follow steps, not the clock). Prints each run's
training steps, how it stopped, its test score and a digest of its final weights.

Run: `.venv/bin/python benchmarks/bench_repeat.py [--task arith-hf] [--seconds 120] [--repeats 2] [--steps 150]
[--seed 7]`
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _digest(model_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(model_dir.rglob("*")):
        if path.is_file() and path.suffix in (".safetensors", ".pt", ".bin"):
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


async def _train(prepared, solution, seconds: float, root: Path):
    from sandbox import DeviceSlots, LocalExecutor, on_cpu_clock
    from tasks.jobs import solution_job

    executor = LocalExecutor(root, DeviceSlots.declared(cpu_slots=1))
    try:
        job = on_cpu_clock(solution_job(prepared, solution, wall_seconds=seconds))
        return await executor.wait(await executor.submit(job))
    finally:
        await executor.close()  # whatever the executor started goes with this event loop


def _row(prepared, solution, seconds: float, root: Path, label: str, i: int) -> dict:
    from tasks import verify

    result = asyncio.run(_train(prepared, solution, seconds, root))
    steps = max((int(m.get("step", 0)) for m in result.metrics), default=0)
    summary = result.summary() if result.ok else {}
    model = Path(result.workdir) / "final_model"
    verdict = verify(model, prepared.task) if result.ok and model.is_dir() else {"test_score": None}
    return {"config": label, "run": i, "steps": steps, "stopped": summary.get("stopped"), "cpu": result.cpu_seconds,
            "test": verdict["test_score"], "weights": _digest(model) if model.is_dir() else "-"}


def main() -> None:
    from tasks import load_task, prepare_task, set_constants, starter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="arith-hf")
    p.add_argument("--seconds", type=float, default=120.0, help="the job's limit (CPU-seconds)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--steps", type=int, default=150, help="the capped config's steps (fits the limit)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args()
    prepared = prepare_task(load_task(args.task))
    base = starter(prepared.task)
    configs = {"starter constants": {"seed": args.seed},
               f"steps capped at {args.steps}": {"seed": args.seed, "steps": args.steps}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_repeat_") as tmp:
        for i in range(args.repeats):
            for n, (label, change) in enumerate(configs.items()):
                row = _row(prepared, set_constants(base, change), args.seconds, Path(tmp) / f"{n}-{i}", label, i)
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n{args.task} starter, seed {args.seed}, {args.seconds:g} CPU-seconds per job, {args.repeats} runs of each "
          "config, one after another\n")
    print("| config | runs: steps, stopped, test, weights | test spread (max − min) | same weights |")
    print("|---|---|---|---|")
    for label in configs:
        got = [r for r in rows if r["config"] == label]
        tests = [r["test"] for r in got if r["test"] is not None]
        cells = " · ".join(f"{r['steps']}, {r['stopped']}, {r['test']}, {r['weights']}" for r in got)
        spread = f"{max(tests) - min(tests):.3f}" if tests else "-"
        same = "yes" if len({r["weights"] for r in got}) == 1 else "no"
        print(f"| {label} | {cells} | {spread} | {same} |")
    if len(rows) > 1:
        print(f"\nmean test: {statistics.fmean(r['test'] for r in rows if r['test'] is not None):.3f}")


if __name__ == "__main__":
    main()
