"""`synthteam tasks`, `synthteam task prepare T`, `synthteam task starter T DIR`,
`synthteam verify MODEL_DIR --task T`.

Handlers import the tasks package lazily so that `synthteam --help` never loads torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list the built-in tasks")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=_list)

    task = sub.add_parser("task", help="task commands (prepare, starter)")
    task_sub = task.add_subparsers(dest="task_command", metavar="SUBCOMMAND", required=True)
    prep = task_sub.add_parser("prepare", help="build and cache the base model, decoy and splits of a task")
    prep.add_argument("task", help="built-in task name or task folder")
    prep.add_argument("--cache-dir", default=None, help="default: $SYNTHTEAM_CACHE or ~/.cache/synthteam")
    prep.add_argument("--json", action="store_true")
    prep.set_defaults(handler=_prepare)
    start = task_sub.add_parser("starter", help="write the task's starter solution (train.py, knob defaults) to DIR")
    start.add_argument("task", help="built-in task name or task folder")
    start.add_argument("dir", type=Path, help="a new (or empty) folder")
    start.set_defaults(handler=_starter)

    ver = sub.add_parser("verify", help="score a model on a task's sealed test split, with integrity checks")
    ver.add_argument("model_dir", help="a model folder (e.g. runs/<id>/final_model), or a run folder: its final "
                                       "model, its task and its workspace (a run without a model is scored as "
                                       "the baseline, flagged missing_model)")
    ver.add_argument("--task", help="built-in task name or task folder (default with a run folder: the run's)")
    ver.add_argument("--workspace", default=None, help="the team's workspace folder (e.g. runs/<id>) to scan for "
                                                       "test items and edited protected files")
    ver.add_argument("--cache-dir", default=None)
    ver.set_defaults(handler=_verify)


def _task_row(task) -> dict:
    return {"name": task.name, "description": task.description, "kind": task.kind, "base_model": task.base_model,
            "benchmark": task.benchmark, "budget": dict(task.budget), "device": task.device,
            "knobs": list(task.knobs), "root": str(task.root)}


def _list(args: argparse.Namespace) -> int:
    from tasks import list_tasks

    rows = [_task_row(t) for t in list_tasks()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for i, row in enumerate(rows):
        default = " (default)" if i == 0 else ""
        print(f"{row['name']:<10} {row['kind']:<5} budget {row['budget'].get('wall', '?'):<4} {row['description']}{default}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from tasks import load_task, prepare_task

    prepared = prepare_task(load_task(args.task), Path(args.cache_dir) if args.cache_dir else None)
    row = {"task": prepared.task.name, "base_model": str(prepared.base_model_dir),
           "decoy_model": str(prepared.decoy_model_dir) if prepared.decoy_model_dir else None,
           "dev": str(prepared.dev_path), "visible": str(prepared.visible_dir),
           "read_paths": [str(p) for p in prepared.read_paths], "sealed_test": str(prepared.test_path),
           "cache_dir": str(prepared.cache_dir)}
    if args.json:
        print(json.dumps(row, indent=1))
    else:
        for key, value in row.items():
            print(f"{key}: {value}")
    return 0


def _starter(args: argparse.Namespace) -> int:
    from sandbox.errors import ConfigError
    from tasks import load_task
    from tasks.solutions import starter, write_solution

    target: Path = args.dir
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target}:1: exists and is not empty (the starter goes into a new or empty folder)")
    task = load_task(args.task)
    solution = write_solution(starter(task), target)
    print(f"wrote the {task.kind} starter for {task.name} to {solution}/ (edit train.py, then: "
          f"synthteam solution run {args.dir} --task {args.task})")
    return 0


def _folder_problem(text: str, what: str, fix: str) -> str | None:
    """A path verify scores or scans must be an existing folder (else no check would run, and exit 0 would lie)."""
    path = Path(text)
    if not path.exists():
        return f"{text}:1: no such {what} ({fix})"
    if not path.is_dir():
        return f"{text}:1: a file, not a {what} ({fix})"
    return None


def _run_folder(args: argparse.Namespace) -> tuple[Path | None, Path | None, str | None]:
    """(model, workspace, task) of `verify`'s argument: a run folder stands for its final model, its workspace
    and its task (a run that left no final model: None, scored as the baseline and flagged)."""
    given = Path(args.model_dir)
    workspace = Path(args.workspace) if args.workspace else None
    manifest = given / "manifest.json"
    if not manifest.exists():
        return given, workspace, args.task
    run = json.loads(manifest.read_text())
    model = given / "final_model"
    return (model if model.is_dir() else None), workspace or given, args.task or run.get("task", {}).get("root")


def _verify(args: argparse.Namespace) -> int:
    from sandbox.errors import ConfigError
    from tasks import load_task, verify

    problems = [_folder_problem(args.model_dir, "model folder", "give the final model folder, e.g. "
                                                                "runs/<id>/final_model")]
    if args.workspace is not None:
        problems.append(_folder_problem(args.workspace, "workspace folder", "give the run folder, e.g. runs/<id>, "
                                                                            "or leave out --workspace"))
    if any(problems):
        raise ConfigError([p for p in problems if p])
    model, workspace, task_name = _run_folder(args)
    if not task_name:
        raise ConfigError("verify: --task is required with a model folder (a built-in task name or a task folder)")
    task = load_task(task_name)
    verdict = verify(model, task, workspace,
                     cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    for flag in verdict.get("flags", []):
        print(f"flag: {flag['flag']}: {flag['reason']}")
    print(f"baseline_score: {verdict['baseline_score']:.4f}  test_score: {verdict['test_score']:.4f}  n: {verdict['n']}")
    print(json.dumps(verdict, sort_keys=True))
    return 0
