"""The job clock (issue 21, point 2): the starter's training steps at a fixed limit, alone and beside two other
sandboxed jobs that keep the cores busy, on the wall clock and on the CPU clock (the job's cgroup CPU-seconds).

On the wall clock a job's compute depends on its neighbours; on the CPU clock it should not. Each
measurement runs the task's starter (train.py) once; the busy neighbours are sandboxed jobs of their own
(`python -c 'while True: pass'`, each in its cgroup, one per core), started before it and stopped after.
The conditions alternate, so a drift of the machine's load hits both clocks.

With `--share` every job holds one of the machine's cores while it runs (`sandbox/cores.py`, what cells side by
side and `SYNTHTEAM_SHARE_CORES=1` do): the neighbours then keep the cores busy for the job's limit and stop,
and the job waits for a free core instead of being time-sliced against them.

With `--tokens N` the job has a horizon of N training tokens (SYNTHTEAM_HORIZON, a task's budget `job_tokens`):
its schedule follows its work, not a clock, and the limit only stops a job too slow to finish. The table then also
says how each run stopped and whether every run left the same weights.

Run: `.venv/bin/python benchmarks/bench_clock.py [--task reverse] [--seconds 20] [--repeats 3] [--share] [--tokens N]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUSY = ("-c", "while True: pass")


def _busy_for(seconds: float) -> tuple[str, ...]:
    return ("-c", f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass")


def _steps(result) -> int:
    return max((int(m.get("step", 0)) for m in result.metrics), default=0)


async def _measure(prepared, solution, seconds: float, clock: str, neighbours: int, root: Path,
                   share: bool = False, tokens: int = 0) -> dict:
    from sandbox import DeviceSlots, Job, Limits, LocalExecutor, on_cpu_clock
    from tasks.jobs import solution_job
    from tasks.prepare import weights_digest

    executor = LocalExecutor(root, DeviceSlots.declared(cpu_slots=neighbours + 1), share_cores=share)
    program = _busy_for(seconds) if share else BUSY  # sharing: a neighbour holds its core, so it must end
    busy = [await executor.submit(Job(command=(sys.executable, *program), limits=Limits(wall_seconds=30 * seconds)))
            for _ in range(neighbours)]
    await asyncio.sleep(1.0 if neighbours else 0.0)
    job = solution_job(prepared, solution, wall_seconds=seconds)
    if tokens:
        job = replace(job, env={**job.env, "SYNTHTEAM_HORIZON": str(tokens)})
    result = await executor.wait(await executor.submit(on_cpu_clock(job) if clock == "cpu" else job))
    for handle in busy:
        await executor.cancel(handle)
        await executor.wait(handle)
    summary = result.summary() if result.ok else {}
    return {"steps": _steps(result), "wall": result.wall_seconds, "cpu": result.cpu_seconds or 0.0,
            "status": result.status.value, "stopped": summary.get("stopped"),
            "weights": weights_digest(model)[:12] if (model := Path(result.workdir) / "final_model").is_dir() else "-"}


def main() -> None:
    from sandbox.local import cpu_clock_problem
    from tasks import load_task, prepare_task
    from tasks.solutions import starter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="reverse")
    p.add_argument("--seconds", type=float, default=20.0, help="the job's limit on its clock")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--neighbours", type=int, default=os.cpu_count() or 2, help="busy sandboxed jobs beside it")
    p.add_argument("--share", action="store_true", help="every job holds a core while it runs (sandbox/cores.py)")
    p.add_argument("--tokens", type=int, default=0, help="the job's horizon in training tokens (0: none)")
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args()
    if cpu_clock_problem():
        sys.exit(f"error: jobs cannot be limited by CPU-seconds here: {cpu_clock_problem()}")
    prepared = prepare_task(load_task(args.task))
    solution = starter(prepared.task)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_clock_") as tmp:
        for i in range(args.repeats):
            for clock in ("wall", "cpu") if i % 2 == 0 else ("cpu", "wall"):
                for n in (0, args.neighbours) if i % 2 == 0 else (args.neighbours, 0):
                    row = {"clock": clock, "neighbours": n, "repeat": i,
                           **asyncio.run(_measure(prepared, solution, args.seconds, clock, n, Path(tmp) / f"{i}{clock}{n}",
                                                 share=args.share, tokens=args.tokens))}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n{args.task} starter, limit {args.seconds:g} s on each clock, {args.repeats} repeats, "
          f"{args.neighbours} busy sandboxed neighbours{', every job holding a core (--share)' if args.share else ''}"
          f"{f', a horizon of {args.tokens} tokens' if args.tokens else ''}\n")
    print("| clock | alone: steps (wall s, CPU s) | beside busy jobs: steps (wall s, CPU s) | busy / alone |")
    print("|---|---|---|---|")
    for clock in ("wall", "cpu"):
        cells, means = [], []
        for n in (0, args.neighbours):
            got = [r for r in rows if r["clock"] == clock and r["neighbours"] == n]
            means.append(statistics.fmean(r["steps"] for r in got))
            cells.append(" · ".join(f"{r['steps']} ({r['wall']:.1f}, {r['cpu']:.1f})" for r in got))
        print(f"| {clock} | {cells[0]} | {cells[1]} | **{means[1] / means[0]:.3f}** |")
    if args.tokens:
        stops = ", ".join(f"{k}: {sum(r['stopped'] == k for r in rows)}" for k in sorted({str(r['stopped']) for r in rows}))
        weights = {r["weights"] for r in rows}
        print(f"\nhow the runs stopped: {stops}; final weights: "
              f"{'all the same (' + next(iter(weights)) + ')' if len(weights) == 1 else f'{len(weights)} different'}")


if __name__ == "__main__":
    main()
