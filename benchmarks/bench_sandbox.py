"""Launch overhead of the sandbox: submit -> the first line of the job's own code, for a trivial Python job.

Plain subprocess vs LocalExecutor (bubblewrap, and no isolation) vs RayExecutor, median of N runs; the
cost of `import torch` at job start; and warm jobs (`sandbox.warm`): submit -> the first line after
`import torch`, cold (a fresh interpreter in bubblewrap) against warm (a fork of the worker that has torch
imported), measured alternately in one run. Run by hand: `.venv/bin/python benchmarks/bench_sandbox.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from sandbox import DeviceSlots, Job, LocalExecutor

FIRST_LINE = "import time; print(repr(time.time()), flush=True)"
TORCH = "import time; t = time.time(); import torch; print(repr(time.time() - t), flush=True)"
AFTER_TORCH = "import torch, time; print(repr(time.time()), flush=True)"


async def plain_subprocess(code: str) -> float:
    submitted = time.time()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    first = float((await proc.stdout.readline()).decode())
    await proc.wait()
    return first - submitted


async def on_executor(executor, code: str) -> float:
    submitted = time.time()
    result = await executor.wait(await executor.submit(Job(("python", "-c", code))))
    return float(result.stdout_tail.splitlines()[0]) - submitted


async def torch_import(executor) -> float:
    result = await executor.wait(await executor.submit(Job(("python", "-c", TORCH))))
    return float(result.stdout_tail.splitlines()[0])


def row(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"| {name:<36} | {statistics.median(ms):8.1f} | {ms[0]:8.1f} | {ms[-1]:8.1f} | {len(ms):3d} |"


async def measure(runs: int, ray_runs: int, root: Path) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bwrap = LocalExecutor(root / "bwrap", DeviceSlots.declared(cpu_slots=1), isolation="auto", warm=False)
        plain = LocalExecutor(root / "none", DeviceSlots.declared(cpu_slots=1), isolation="none", warm=False)
    lines = [row("plain asyncio subprocess", [await plain_subprocess(FIRST_LINE) for _ in range(runs)]),
             row(f"LocalExecutor isolation={bwrap.isolation}", [await on_executor(bwrap, FIRST_LINE) for _ in range(runs)]),
             row("LocalExecutor isolation=none", [await on_executor(plain, FIRST_LINE) for _ in range(runs)])]
    if ray_runs:
        lines.append(row("RayExecutor (actor per job, bwrap)", await _ray(root, ray_runs)))
    lines.append(row("import torch inside the job (bwrap)", [await torch_import(bwrap) for _ in range(3)]))
    return lines + await _warm(root, max(5, runs // 2))


async def _warm(root: Path, runs: int) -> list[str]:
    """Cold and warm starts of a job whose first line needs torch, alternating (the ratio is the goal)."""
    cold = LocalExecutor(root / "cold", DeviceSlots.declared(cpu_slots=1), warm=False)
    warm = LocalExecutor(root / "warm", DeviceSlots.declared(cpu_slots=1), warm=True)
    if warm.warm is None:
        return [f"| warm jobs not available here: {warm.warm_problem} | | | | |"]
    await on_executor(warm, AFTER_TORCH)  # the worker starts (its own import of torch) before the samples
    cold_s, warm_s = [], []
    for _ in range(runs):
        cold_s.append(await on_executor(cold, AFTER_TORCH))
        warm_s.append(await on_executor(warm, AFTER_TORCH))
    await warm.close()
    ratio = statistics.median(warm_s) / statistics.median(cold_s)
    return [row("cold job, first line after import torch", cold_s),
            row("warm job, first line after import torch", warm_s),
            f"| warm / cold (medians): **{ratio:.3f}** (goal <= 0.1) | | | | |"]


async def _ray(root: Path, runs: int) -> list[float]:
    import ray

    from sandbox.ray_executor import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    executor = RayExecutor(root=root / "ray")
    await on_executor(executor, FIRST_LINE)  # the first actor also warms Ray's worker pool
    samples = [await on_executor(executor, FIRST_LINE) for _ in range(runs)]
    ray.shutdown()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--ray-runs", type=int, default=5, help="0 skips Ray")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        lines = asyncio.run(measure(args.runs, args.ray_runs, Path(tmp)))
    print("| launch: submit -> first line of job code | median ms | min ms | max ms |   n |")
    print("|--------------------------------------|----------|----------|----------|-----|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
