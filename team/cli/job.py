"""`synthteam job run -- CMD ...`: run one command exactly as an agent's job runs (same sandbox, same
limits, same view of a task), stream its output, then print a `key: value` summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import warnings
from pathlib import Path

__all__ = ["register", "EXIT_CODES"]

EXIT_CODES = {"ok": 0, "failed": 1, "timeout": 124, "killed": 137, "oom": 137, "cancelled": 130}
_EPILOG = """exit codes: 0 ok, 1 failed, 124 timeout, 137 killed (process/disk limit) or oom, 130 cancelled
(Ctrl-C), 2 bad flags. Example:
  synthteam job run --timeout 2m --memory 2G -- python -c "import torch; print(torch.__version__)"
"""


def register(sub: argparse._SubParsersAction) -> None:
    job = sub.add_parser("job", help="run one command in the agents' sandbox (debug a recipe)")
    jobs = job.add_subparsers(dest="job_command", metavar="SUBCOMMAND")
    job.set_defaults(handler=lambda args: job.print_help() or 2)
    p = jobs.add_parser("run", help="run CMD as a sandboxed job and report its status",
                        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", metavar="T", help="give the job the task's read-only view (train/dev data, base model)")
    p.add_argument("--gpus", type=int, default=0, metavar="N", help="GPUs the job needs (default 0)")
    p.add_argument("--timeout", default="10m", metavar="DUR", help="wall-time limit, e.g. 30s, 10m, 1.5h")
    p.add_argument("--memory", metavar="SIZE", help="memory limit, e.g. 512M, 2G (default: none)")
    p.add_argument("--disk", metavar="SIZE", help="work dir size limit, e.g. 1G (default: none)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="CPU threads (OMP/MKL/torch)")
    p.add_argument("--isolation", choices=["auto", "bwrap", "none"], default="auto")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (with --executor ray)")
    p.add_argument("--root", default="runs/jobs", type=Path, help="where work dirs go (default runs/jobs)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...")
    p.set_defaults(handler=cmd_job_run)


def _parse(flag: str, parser, text: str | None):
    from sandbox.errors import ConfigError

    if text is None:
        return None
    try:
        return parser(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def build_job(args: argparse.Namespace):
    """The Job the flags describe (ConfigError, one line per problem, on bad input)."""
    from sandbox import Job, Limits, Resources, parse_duration, parse_size
    from sandbox.errors import ConfigError

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    problems = [] if command else ["job run: give the command after --, e.g. -- python train.py"]
    if args.gpus < 0 or args.threads < 1:
        problems.append("--gpus must be >= 0 and --threads >= 1")
    if problems:
        raise ConfigError(problems)
    _check_gpus(args)
    resources = Resources(gpus=args.gpus, cpu_threads=args.threads,
                          memory_bytes=_parse("--memory", parse_size, args.memory))
    limits = Limits(wall_seconds=_parse("--timeout", parse_duration, args.timeout),
                    disk_bytes=_parse("--disk", parse_size, args.disk))
    return Job(tuple(command), read_paths=_task_paths(args.task), resources=resources, limits=limits,
               metadata={"role": "cli", "task": args.task or ""})


def _check_gpus(args: argparse.Namespace) -> None:
    """`--gpus N` on a machine with fewer: one line now (the job would wait for them forever)."""
    from team.engine.run.preflight import check_devices

    check_devices(argparse.Namespace(gpus=args.gpus, cpu_threads=args.threads, executor=args.executor))


def _task_paths(name: str | None) -> tuple[Path, ...]:
    if not name:
        return ()
    import tasks
    from sandbox.errors import ConfigError

    if not hasattr(tasks, "prepare_task"):
        raise ConfigError("--task: this synthteam build cannot prepare tasks yet (tasks.prepare_task is missing)")
    prepared = tasks.prepare_task(tasks.load_task(name))
    return tuple(Path(p) for p in prepared.read_paths)


def _executor(args: argparse.Namespace):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.executor == "ray":
            from sandbox.ray_executor import RayExecutor

            executor = RayExecutor(args.address, args.gpus or None, root=args.root, isolation=args.isolation)
        else:
            from sandbox import DeviceSlots, LocalExecutor

            slots = DeviceSlots.detect(cpu_threads=args.threads)
            executor = LocalExecutor(args.root, slots, isolation=args.isolation)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    return executor


def cmd_job_run(args: argparse.Namespace) -> int:
    job = build_job(args)
    result, isolation = asyncio.run(_run(job, _executor(args)))
    _print_summary(result, isolation)
    return EXIT_CODES.get(result.status.value, 1)


async def _run(job, executor):
    handle = await executor.submit(job)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(executor.cancel(handle)))
    waiting = asyncio.ensure_future(executor.wait(handle))
    if hasattr(executor, "workdir"):
        await _stream(executor.workdir(handle) / "stdout.log", waiting)
    result = await waiting
    if not hasattr(executor, "workdir"):
        sys.stdout.write(result.stdout_tail)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.remove_signal_handler(signal.SIGINT)
    return result, executor.isolation


async def _stream(path: Path, waiting: asyncio.Future) -> None:
    """Copy the job's stdout to ours as it grows, until the job ends."""
    offset = 0
    while True:
        finished = waiting.done()
        chunk = await asyncio.to_thread(_read_from, path, offset)
        if chunk:
            offset += len(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        if finished:
            return
        await asyncio.wait({waiting}, timeout=0.1)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(1 << 20)
    except OSError:
        return b""


def _print_summary(result, isolation: str) -> None:
    peak = f"{result.peak_memory_bytes / 2**20:.1f} MiB" if result.peak_memory_bytes else "unknown"
    lines = {
        "status": result.status.value, "exit_code": result.exit_code, "wall_s": f"{result.wall_seconds:.2f}",
        "device_seconds": f"{result.device_seconds:.2f}", "devices": ",".join(result.devices) or "-",
        "peak_memory": peak, "isolation": isolation, "workdir": result.workdir,
    }
    if result.error:
        lines["error"] = result.error
    if result.stderr_tail.strip() and not result.ok:
        print(result.stderr_tail.rstrip()[-2000:], file=sys.stderr)
    print("---- job summary ----")
    for key, value in lines.items():
        print(f"{key}: {value}")
