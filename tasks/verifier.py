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
    """The verifier's own copies: evaluate.py, templates/, test.jsonl, task.json (with a cached baseline);
    for a task scored by Inspect AI also benchmark.json and the files it names (tasks.staging), and for a
    PostTrainBench folder the whole folder."""
    task, kit = prepared.task, root / "kit"
    kit.mkdir(parents=True)
    _evaluation_files(prepared, kit)
    if (task.root / "templates").is_dir() and not (kit / "templates").exists():
        shutil.copytree(task.root / "templates", kit / "templates")
    shutil.copyfile(prepared.test_path, kit / "test.jsonl")
    card = {"name": task.name, "digest": task.digest, "max_new_tokens": task.max_new_tokens,
            "baseline": _cached_baseline(prepared), "evaluator": task.evaluator}
    if task.evaluator != "home":
        card.update(sealed=bool(task.bench and task.bench.sealed), provider=task.provider,
                    device="cuda" if _gpus(task) else "cpu", max_tokens_arg=(task.ptb or {}).get("max_tokens"))
    (kit / "task.json").write_text(json.dumps(card, sort_keys=True))
    return kit


def _evaluation_files(prepared, kit: Path) -> None:
    task = prepared.task
    if task.evaluator == "home":
        shutil.copyfile(task.evaluate_path, kit / "evaluate.py")
    elif task.evaluator == "ptb":
        from tasks.ptb import SIDECAR
        from tasks.staging import copy_folder

        copy_folder(task.root, kit, skip=(SIDECAR,))
        if task.ptb.get("templates_dir") and not (kit / "templates").exists():
            shutil.copytree(task.ptb["templates_dir"], kit / "templates")
    else:
        from tasks.staging import EVALUATE_SHIM, spec_files, write_files

        write_files(kit, spec_files(task, prepared.chat_template))
        (kit / "evaluate.py").write_text(EVALUATE_SHIM)


def _baseline_path(prepared) -> Path:
    from tasks.prepare import weights_digest

    key = f"{weights_digest(prepared.base_model_dir)[:16]}-{prepared.task.digest[:16]}"
    return prepared.sealed_dir / f"baseline-{key}.json"


def _cached_baseline(prepared) -> dict | None:
    """The base model's cached score; for a task scored by Inspect only with its log (else scored again)."""
    path = _baseline_path(prepared)
    if prepared.task.evaluator != "home" and not path.with_suffix(".logs").is_dir():
        return None
    return json.loads(path.read_text()) if path.is_file() else None


def _keep_baseline(prepared, baseline: dict) -> None:
    path = _baseline_path(prepared)
    if not path.is_file():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(baseline))
        tmp.replace(path)


def _job(prepared, kit: Path, model_dir: Path | None, workspace: Path | None, timeout: float, gpus: int):
    from sandbox import Job, Limits, Resources

    reads = [kit, prepared.read_paths[0]]  # the base model (for a hub id, its repo folder with the blobs)
    threads = _threads()
    command = [sys.executable, "-m", "tasks.verdict", "--kit", str(kit), "--base-model", str(prepared.base_model_dir),
               "--threads", str(threads)]
    decoy = prepared.decoy_model_dir
    if decoy is not None and decoy.is_dir():
        command += ["--decoy", str(decoy)]
        reads.append(decoy)
    for flag, path in (("--model-dir", model_dir), ("--workspace", workspace)):
        if path is not None and path.exists():
            command += [flag, str(path)]
            reads.append(path)
    env = {}
    if prepared.task.evaluator != "home":
        from tasks.evaljobs import eval_env

        env = eval_env(threads)
    return Job(tuple(command), env=env, read_paths=tuple(reads), resources=Resources(gpus=gpus, cpu_threads=threads),
               limits=Limits(wall_seconds=timeout), metadata={"kind": "verify", "task": prepared.task.name})


def _threads() -> int:
    """Two CPU threads, or one when the process shares the machine's cores with other executors (cells of a
    comparison side by side): a job needing two cores at once waits until both are free, and single-core jobs
    keep taking them first. In the 120 s study the verifier waited 213 s on average for 14 s of scoring."""
    from sandbox.cores import sharing_asked

    return 1 if sharing_asked() else 2


async def _run(job, root: Path):
    from sandbox import DeviceSlots, LocalExecutor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no bwrap: the verdict says isolation "none"
        executor = LocalExecutor(root / "jobs", DeviceSlots.detect(cpu_threads=job.resources.cpu_threads))
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


def _log_dir(workspace: Path | None, log_dir: Path | None) -> Path | None:
    """Where the verifier's Inspect logs are kept: `log_dir`, else runs/<id>/verify/ when the workspace is a run
    folder or its jobs/ (what a session and `synthteam verify runs/<id>` pass), else nowhere."""
    if log_dir is not None:
        return Path(log_dir)
    if workspace is None:
        return None
    for run in (Path(workspace), Path(workspace).parent):
        if (run / "manifest.json").is_file() and (run == Path(workspace) or Path(workspace).name == "jobs"):
            return run / "verify"
    return None


def _keep_logs(prepared, workdir: Path, target: Path | None) -> str | None:
    """The verifier's Inspect logs into `target` (model/, baseline/). The base model is scored once per cache:
    its log is kept beside the cached baseline and copied into every run's folder."""
    from tasks.evaljobs import LOG_DIR

    source, cached = Path(workdir) / LOG_DIR, _baseline_path(prepared).with_suffix(".logs")
    if (source / "baseline").is_dir() and not cached.exists():
        tmp = cached.with_name(f"{cached.name}.tmp{os.getpid()}")
        shutil.copytree(source / "baseline", tmp, dirs_exist_ok=True)
        try:
            tmp.rename(cached)  # another verifier may have kept it first: then its copy stands
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    if target is None or not source.is_dir():
        return None
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True)
    if cached.is_dir() and not (target / "baseline").exists():
        shutil.copytree(cached, target / "baseline")
    return str(target)


def verify(model_dir: Path | None, task, workspace: Path | None = None, *, cache_dir: Path | None = None,
           timeout: float = 1800, log_dir: Path | None = None) -> dict:
    """Score `model_dir` on the task's sealed test split in a sandbox job and return the verdict (blocking;
    call it through asyncio.to_thread from async code). For a task scored by Inspect AI its logs are kept
    in `log_dir` (default: runs/<id>/verify/ when the workspace is a run folder or its jobs/), as `model/`
    and `baseline/`, and the verdict names the folder (`eval_logs`)."""
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
        verdict["verifier_seconds"] = {"wall": round(result.wall_seconds, 3),  # work outside every budget
                                       "cpu": None if result.cpu_seconds is None else round(result.cpu_seconds, 3)}
        kept = _keep_logs(prepared, Path(result.workdir), _log_dir(workspace, log_dir))
        if kept:
            verdict["eval_logs"] = kept
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
