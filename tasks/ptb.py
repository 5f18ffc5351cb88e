"""PostTrainBench task folders, run as they are: `--task path/to/src/eval/tasks/gsm8k`.

A folder with `benchmark.txt` (the display name) and `evaluate.py` (PostTrainBench's command line:
`--model-path`, `--limit`, `--json-output-file`, `--templates-dir`, optionally `--max-tokens`) and no
task.yaml. Its evaluate.py, unchanged, scores every evaluation: the job's own checks and the harness's
dev evaluation with `--limit` (the sidecar's `dev_limit`), the verifier without (`--limit -1`); its
metrics JSON's `accuracy` is the score, and Inspect's log goes to the evaluation's `eval/`
(`INSPECT_LOG_DIR`). The task card agents read is built from benchmark.txt.

What such a folder cannot give is said in the verdict: its dev items are test items (`unsealed_split`,
an advisory flag that changes no score). Base model, budget and device come from a small sidecar,
`synthteam.yaml` in the folder (every key optional but base_model):

    base_model: Qwen/Qwen3-1.7B-Base     # a hub id in the local cache, or a directory
    revision: main
    budget: {wall: 10h, job_seconds: 10h, job: 2h}
    device: cuda
    dev_limit: 150                       # items of the harness's dev evaluation
    max_tokens: 4000                     # passed as --max-tokens when set
    templates: ../../templates           # PostTrainBench's shared templates/ (default: the folder's own)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.errors import ConfigError

__all__ = ["load_ptb_task", "write_ptb_visible", "ptb_argv", "ptb_command", "run_ptb", "SIDECAR"]

SIDECAR = "synthteam.yaml"
_KNOBS_FROM = "arith-hf"  # a PostTrainBench folder gets the hf starter's knobs, as the built-in hf task declares them


class Sidecar(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,40}$")
    base_model: str
    revision: str | None = None
    budget: dict[str, str | int | float] = {"wall": "10h", "job_seconds": "10h", "job": "2h"}
    device: Literal["cpu", "cuda"] = "cuda"
    dev_limit: int = Field(50, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    templates: str | None = None
    chat_template: str | None = "auto"
    description: str | None = None


def _sidecar(folder: Path) -> tuple[Sidecar, Any, Path]:
    from tasks.yamlio import load_yaml, validate_model

    path = folder / SIDECAR
    if not path.is_file():
        raise ConfigError(f"{path}:1: a PostTrainBench folder needs a sidecar {SIDECAR} with at least base_model: "
                          "(a hub id in the local Hugging Face cache, or a model directory)")
    data = load_yaml(path)
    return validate_model(Sidecar, data, path), data, path


def _task_yaml(folder: Path, side: Sidecar, name: str, bench: str) -> dict:
    """The task.yaml this folder stands for (validated like any task file)."""
    from tasks.spec import BUILTIN_DIR
    from tasks.yamlio import load_yaml

    builtin = load_yaml(BUILTIN_DIR / _KNOBS_FROM / "task.yaml")
    rules = ["Post-train the base model only (not an instruct version of it).",
             "Do not train on, copy or paraphrase test items: the evaluation's items are the test items.",
             "Do not edit evaluate.py or templates/; every evaluation uses the harness's own copies.",
             "Leave the best model in final_model/ (same architecture as the base)."]
    return {"name": name, "kind": "hf", "base_model": side.base_model, "revision": side.revision,
            "description": side.description or f"Post-train the base model for {bench}, scored by the folder's "
                                                 "evaluate.py (PostTrainBench).",
            "benchmark": bench, "budget": side.budget, "device": side.device, "rules": rules,
            "max_new_tokens": side.max_tokens or 512, "knobs": builtin["knobs"], "reference": builtin["reference"],
            "chat_template": side.chat_template}


def load_ptb_task(folder: Path):
    """The Task of a PostTrainBench folder; ConfigError (one line) for what is missing or wrong."""
    from dataclasses import replace

    from tasks.spec import Task, TaskFile, _check_base_model, _digest, _knob
    from tasks.yamlio import validate_model

    folder = Path(folder).resolve()
    if not (folder / "evaluate.py").is_file():
        raise ConfigError(f"{folder / 'evaluate.py'}:1: missing (a PostTrainBench task folder scores with its "
                          "evaluate.py)")
    if not (folder / "benchmark.txt").is_file():
        raise ConfigError(f"{folder / 'benchmark.txt'}:1: missing (a PostTrainBench task folder names its "
                          "benchmark in benchmark.txt)")
    side, data, path = _sidecar(folder)
    lines = (folder / "benchmark.txt").read_text().strip().splitlines()
    bench = lines[0].strip() if lines else folder.name
    name = side.name or _name(folder.name)
    spec = validate_model(TaskFile, _task_yaml(folder, side, name, bench), path)
    _check_base_model(spec, data, path)
    templates = (folder / side.templates).resolve() if side.templates else folder / "templates"
    if side.templates and not templates.is_dir():
        raise ConfigError(f"{path}:1: templates: {templates} is not a folder")
    knobs = {k: _knob(k, v) for k, v in spec.knobs.items()}
    task = Task(name=name, description=spec.description, root=folder, base_model=spec.base_model, benchmark=bench,
                budget=dict(spec.budget), device=spec.device, rules=tuple(spec.rules), knobs=knobs, kind="hf",
                reference={**{n: k.default for n, k in knobs.items()}, **spec.reference},
                digest=_digest(folder, full=True), max_new_tokens=spec.max_new_tokens,
                splits={"dev": side.dev_limit, "test": 0}, revision=side.revision, chat_template=side.chat_template,
                ptb={"dev_limit": side.dev_limit, "max_tokens": side.max_tokens,
                     "templates_dir": str(templates) if templates.is_dir() else None})
    return replace(task, evaluation={"provider": "hf", "dev_limit": side.dev_limit})


def _name(text: str) -> str:
    import re

    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_") or "ptb"
    return name if name[0].isalpha() else f"ptb-{name}"[:41]


def write_ptb_visible(task, out: Path, template: Path | None) -> None:
    """What a job reads: the folder as it is, its templates/, an (empty) dev split and pool, the card."""
    import shutil

    from tasks.splits import write_jsonl
    from tasks.staging import copy_folder
    from tasks.visible import task_card

    copy_folder(task.root, out, skip=(SIDECAR,))
    templates = task.ptb.get("templates_dir")
    if templates and not (out / "templates").exists():
        shutil.copytree(templates, out / "templates")
    write_jsonl(out / "dev.jsonl", [])
    write_jsonl(out / "train.jsonl", [])
    card = task_card(task, [])
    card.update(evaluator="ptb", sealed=False, benchmark_source="ptb", solver="generate",
                max_tokens_arg=task.ptb.get("max_tokens"),
                chat_template=f"templates/{template.name}" if template else None)
    (out / "task.json").write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")


def ptb_argv(folder: Path, model: Path, limit: int, json_out: Path, max_tokens: int | None = None) -> list[str]:
    """`python evaluate.py ...` as PostTrainBench calls it (the folder's templates/ when it has one)."""
    command = [sys.executable, str(Path(folder) / "evaluate.py"), "--model-path", str(model), "--limit", str(limit),
               "--json-output-file", str(json_out)]
    if (Path(folder) / "templates").is_dir():
        command += ["--templates-dir", str(Path(folder) / "templates")]
    if max_tokens:
        command += ["--max-tokens", str(max_tokens)]
    return command


def ptb_command(prepared, model_dir: Path, limit: int, json_out: str) -> tuple[str, ...]:
    """The harness's dev evaluation: the prepared (read-only, pristine) copy of the folder's evaluate.py."""
    return tuple(ptb_argv(prepared.visible_dir, model_dir, limit, Path(json_out), prepared.task.ptb.get("max_tokens")))


def run_ptb(folder: Path, model_dir: Path, limit: int, log_dir: Path, max_tokens: int | None = None) -> dict:
    """Run a PostTrainBench evaluate.py in a subprocess, its Inspect logs in `log_dir`; {"accuracy", "stderr",
    "n"} from its metrics JSON (LOG_DIR.metrics.json; n from its log when it left one). RuntimeError with its
    stderr's last line when it fails."""
    from tasks.evallog import LogError, find_log, read_log_score

    log_dir = Path(log_dir).absolute()
    out = log_dir.with_name(log_dir.name + ".metrics.json")  # beside the logs: a .json there may be a log
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "INSPECT_LOG_DIR": str(log_dir), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(ptb_argv(folder, model_dir, limit, out, max_tokens), env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"evaluate.py exited {proc.returncode}: {last[:300]}")
    metrics = json.loads(out.read_text())
    log = find_log(log_dir)
    try:
        n = read_log_score(log)["n"] if log is not None else None
    except LogError:
        n = None
    return {"accuracy": float(metrics["accuracy"]), "stderr": float(metrics.get("stderr") or 0.0), "n": n}
