"""The independent verifier: `python -m tasks.verifier --task T --model-dir M [--workspace W]`.

It runs after the team is done, as a job in the sandbox (bubblewrap where it works): the model
directory, the workspace, the base model and the decoy are bound read-only, and its only other reads
are a kit the harness makes for it in a fresh folder: pristine copies of the task's evaluate.py (and
templates/), the sealed test split and the task's name, digest and token limit. The job (`tasks.verdict`)
scores the model on the sealed split, runs the integrity checks and writes the verdict; a missing or
flagged model gets the baseline score (the base model's), as in PostTrainBench.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

__all__ = ["verify", "main"]


def _kit(prepared, root: Path) -> Path:
    """The verifier's own copies: evaluate.py, templates/, test.jsonl, task.json (with a cached baseline)."""
    task, kit = prepared.task, root / "kit"
    kit.mkdir(parents=True)
    shutil.copyfile(task.evaluate_path, kit / "evaluate.py")
    if (task.root / "templates").is_dir():
        shutil.copytree(task.root / "templates", kit / "templates")
    shutil.copyfile(prepared.test_path, kit / "test.jsonl")
    card = {"name": task.name, "digest": task.digest, "max_new_tokens": task.max_new_tokens,
            "baseline": _cached_baseline(prepared)}
    (kit / "task.json").write_text(json.dumps(card, sort_keys=True))
    return kit


def _baseline_path(prepared) -> Path:
    from tasks.prepare import weights_digest

    key = f"{weights_digest(prepared.base_model_dir)[:16]}-{prepared.task.digest[:16]}"
    return prepared.sealed_dir / f"baseline-{key}.json"


def _cached_baseline(prepared) -> dict | None:
    path = _baseline_path(prepared)
    return json.loads(path.read_text()) if path.is_file() else None


def _keep_baseline(prepared, baseline: dict) -> None:
    path = _baseline_path(prepared)
    if not path.is_file():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(baseline))
        tmp.replace(path)


def _job(prepared, kit: Path, model_dir: Path | None, workspace: Path | None, timeout: float, gpus: int):
    from sandbox import Job, Limits, Resources

    reads = [kit, prepared.base_model_dir]
    command = [sys.executable, "-m", "tasks.verdict", "--kit", str(kit), "--base-model", str(prepared.base_model_dir),
               "--threads", "2"]
    decoy = prepared.decoy_model_dir
    if decoy is not None and decoy.is_dir():
        command += ["--decoy", str(decoy)]
        reads.append(decoy)
    for flag, path in (("--model-dir", model_dir), ("--workspace", workspace)):
        if path is not None and path.exists():
            command += [flag, str(path)]
            reads.append(path)
    return Job(tuple(command), read_paths=tuple(reads), resources=Resources(gpus=gpus, cpu_threads=2),
               limits=Limits(wall_seconds=timeout), metadata={"kind": "verify", "task": prepared.task.name})


async def _run(job, root: Path):
    from sandbox import DeviceSlots, LocalExecutor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no bwrap: the verdict says isolation "none"
        executor = LocalExecutor(root / "jobs", DeviceSlots.detect(cpu_threads=2))
    return await executor.wait(await executor.submit(job)), executor.isolation


def _in_thread(coro):
    """asyncio.run here, or in a fresh thread when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.update(out=asyncio.run(coro)))
    worker.start()
    worker.join()
    return box["out"]


def _gpus(task) -> int:
    from sandbox.slots import detect_gpus

    return 1 if task.device == "cuda" and detect_gpus() else 0


def verify(model_dir: Path | None, task, workspace: Path | None = None, *, cache_dir: Path | None = None,
           timeout: float = 1800) -> dict:
    """Score `model_dir` on the task's sealed test split in a sandbox job and return the verdict (blocking;
    call it through asyncio.to_thread from async code)."""
    from sandbox.errors import JobError
    from tasks.prepare import prepare_task

    prepared = prepare_task(task, cache_dir)
    root = Path(tempfile.mkdtemp(prefix="synthteam-verify-"))
    try:
        kit = _kit(prepared, root)
        model = Path(model_dir).absolute() if model_dir is not None else None
        space = Path(workspace).absolute() if workspace is not None else None
        result, isolation = _in_thread(_run(_job(prepared, kit, model, space, timeout, _gpus(prepared.task)), root))
        path = Path(result.workdir) / "verdict.json"
        if not result.ok or not path.is_file():
            tail = result.stderr_tail.strip()[-500:]
            raise JobError("verifier_failed", "verify", f"{result.status.value}: {result.error} {tail}".strip())
        verdict = json.loads(path.read_text())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    _keep_baseline(prepared, verdict.pop("baseline"))
    for flag in verdict["flags"]:
        if flag["flag"] == "missing_model":
            flag["reason"] = f"no model directory with a config.json at {model_dir}"
    return {**verdict, "model_dir": str(model_dir) if model_dir is not None else None, "isolation": isolation}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tasks.verifier", description="Score a final model on the sealed test split.")
    p.add_argument("--task", required=True, help="a built-in task name or a task folder")
    p.add_argument("--model-dir", default=None)
    p.add_argument("--workspace", default=None, help="the team's workspace, scanned for test items and edited files")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json-output-file", default=None)
    args = p.parse_args(argv)
    from tasks.spec import load_task

    verdict = verify(Path(args.model_dir) if args.model_dir else None, load_task(args.task),
                     Path(args.workspace) if args.workspace else None,
                     cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    line = json.dumps(verdict, sort_keys=True)
    if args.json_output_file:
        Path(args.json_output_file).write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
