"""`synthteam solution run DIR --task T`: run a solution exactly as the team would (a sandboxed
`python train.py` job), then score its final_model/ with the harness's own dev evaluation.

Exit codes: 0 ok; 2 bad input or a solution that failed, timed out or left no final_model/ (one line on
stderr says why). The job's own printed numbers are shown as `reported_dev`, never as the score.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from team.cli import duration

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    solution = sub.add_parser("solution", help="solution commands (run)")
    cmds = solution.add_subparsers(dest="solution_command", metavar="SUBCOMMAND", required=True)
    p = cmds.add_parser("run", help="run DIR/train.py as a sandboxed job and print the harness's dev score")
    p.add_argument("dir", type=Path, help="the solution folder (train.py and its files)")
    p.add_argument("--task", required=True, help="built-in task name or task folder")
    p.add_argument("--seconds", type=duration, default=None,
                   help="the job's wall limit, e.g. 90s or 5m (default: the task's job budget)")
    p.add_argument("--out", type=Path, default=None, help="a new folder for the job (default runs/solutions/...)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads of the job")
    p.add_argument("--gpus", type=int, default=0, help="GPUs of the job")
    p.add_argument("--provider", choices=["hf", "vllm"], default=None,
                   help="the Inspect AI provider of every evaluation of a task scored by Inspect: hf (CPU or "
                        "GPU) or vllm (GPU, when installed); default: the task's own setting")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_run)


def _inputs(args: argparse.Namespace):
    from sandbox.errors import ConfigError
    from sandbox.units import capped, parse_duration
    from tasks import load_task, prepare_task
    from tasks.solutions import load_solution
    from team.engine.run.preflight import check_devices

    check_devices(argparse.Namespace(gpus=args.gpus, cpu_threads=args.threads, executor="local"))
    solution = load_solution(args.dir)
    task = load_task(args.task, provider=args.provider)
    seconds = capped(args.seconds if args.seconds is not None else parse_duration(task.budget.get("job", "60s")))
    if not 1 <= seconds <= 86_400 or args.threads < 1 or args.gpus < 0:
        raise ConfigError("solution run: --seconds must be in [1, 86400], --threads >= 1 and --gpus >= 0")
    out = args.out or Path("runs") / "solutions" / f"{solution.digest[:10]}-{time.strftime('%Y%m%d-%H%M%S')}"
    from tasks.trial import check_out_dir

    return solution, prepare_task(task), seconds, check_out_dir(out)


def _run(args: argparse.Namespace) -> int:
    from tasks.trial import run_solution

    solution, prepared, seconds, out = _inputs(args)
    if not args.json:
        print(f"running {args.dir}/train.py on {prepared.task.name} for at most {seconds:g} s in {out}/ ...",
              file=sys.stderr, flush=True)
    outcome = asyncio.run(run_solution(prepared, solution, seconds=seconds, out=out, cpu_threads=args.threads,
                                       gpus=args.gpus))
    row = {**outcome.to_dict(), "solution": solution.digest, "task": prepared.task.name, "out": str(out)}
    if args.json:
        print(json.dumps(row, sort_keys=True))
    else:
        _print_human(row)
    if outcome.status != "ok":
        print(f"error: the solution's job ended {outcome.status}: {outcome.error or 'see ' + str(out / 'stderr.log')}",
              file=sys.stderr)
        return 2
    return 0


def _print_human(row: dict) -> None:
    if row["status"] != "ok" and row["stderr_tail"].strip():
        print(row["stderr_tail"].rstrip()[-1500:], file=sys.stderr)
    dev = "-" if row["harness_dev"] is None else f"{row['harness_dev']:.4f} (n={row['dev_n']})"
    reported = "-" if row["reported_dev"] is None else f"{row['reported_dev']:.4f} (printed by the job, not used)"
    for key, value in (("status", row["status"]), ("harness_dev", dev), ("reported_dev", reported),
                       ("final_model", row["final_model"] or "none"), ("wall_s", f"{row['wall_seconds']:.1f}"),
                       ("solution", row["solution"][:16]), ("out", row["out"])):
        print(f"{key}: {value}")
    for flag in row["flags"]:
        print(f"flag: {flag['flag']}: {flag['reason']}")
