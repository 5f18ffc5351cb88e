"""What an Inspect AI benchmark (or a PostTrainBench folder) gives a job and the verifier.

    visible/                      what a job may read (a prepared task's read path)
        dev.jsonl, train.jsonl    the dev split and the training pool (tasks.dataset); empty when the
                                  benchmark is an Inspect task whose dataset is not split
        task.json                 the public task card, with `evaluator` (inspect | ptb), `solver`,
                                  `chat_template` and `benchmark_source`
        evaluate.py               the evaluation, PostTrainBench command line (python evaluate.py
                                  --model-path M --limit N --json-output-file F)
        benchmark.json, chat_template.jinja, and the scorer or task file the benchmark names
    sealed/test.jsonl             the test split (empty when there is none: `sealed` is false)

The harness's own evaluations (dev and verifier) never read a job's copies: `spec_files` gives them the
same files, made afresh from the task folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tasks.spec import Task

__all__ = ["SPEC", "TEMPLATE", "spec_files", "write_files", "write_inspect_visible", "write_inspect_sealed",
           "EVALUATE_SHIM"]

SPEC = "benchmark.json"
TEMPLATE = "chat_template.jinja"
EVALUATE_SHIM = '''"""The task's evaluation (Inspect AI), with PostTrainBench's command line:

    python evaluate.py --model-path final_model --limit 32 --json-output-file out.json [--log-dir eval]

scores a model directory on this folder's dev.jsonl and writes {"accuracy", "stderr", "n", "log"}; the
log opens with `inspect view --log-dir eval`. The harness scores with its own copy of benchmark.json.
"""

from pathlib import Path

from tasks.inspect_eval import main

if __name__ == "__main__":
    raise SystemExit(main(spec=Path(__file__).with_name("benchmark.json")))
'''


def spec_files(task: Task, template: Path | None) -> dict[str, str]:
    """benchmark.json and the files it names (chat template, a scorer or task file and the files it reads)."""
    bench = task.bench
    spec = {**bench.spec(), "name": task.name, "benchmark": bench.name, "max_tokens": task.max_new_tokens,
            "evaluation": dict(task.evaluation), "chat_template": TEMPLATE if template else None}
    files = {SPEC: json.dumps(spec, indent=1, sort_keys=True) + "\n"}
    if template:
        files[TEMPLATE] = Path(template).read_text()
    refs = [bench.scorer if "@" in bench.scorer else None, bench.task if bench.source == "file" else None]
    for name in [r.partition("@")[0] for r in refs if r] + list(bench.files):
        files[name] = (task.root / name).read_text()
    return files


def write_files(out: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = Path(out) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _card(task: Task, pool: list[dict], template: Path | None) -> dict:
    from tasks.visible import task_card

    card = task_card(task, pool)
    bench = task.bench
    card.update(evaluator="inspect", solver=bench.solver, benchmark_source=bench.source, sealed=bench.sealed,
                chat_template=TEMPLATE if template else None, scorer=bench.scorer, provider=task.provider)
    return card


def write_inspect_visible(task: Task, out: Path, dev: list[dict], pool: list[dict], template: Path | None) -> None:
    from tasks.splits import write_jsonl

    write_jsonl(out / "dev.jsonl", dev)
    write_jsonl(out / "train.jsonl", pool)
    (out / "task.json").write_text(json.dumps(_card(task, pool, template), indent=1, sort_keys=True) + "\n")
    (out / "evaluate.py").write_text(EVALUATE_SHIM)
    write_files(out, spec_files(task, template))


def write_inspect_sealed(out: Path, test: list[dict]) -> None:
    from tasks.splits import write_jsonl

    write_jsonl(out / "test.jsonl", test)


def copy_folder(src: Path, out: Path, skip: tuple[str, ...] = ()) -> None:
    """A PostTrainBench folder as it is (its evaluate.py, evaluation_code/, templates/, task_context/)."""
    for path in sorted(Path(src).iterdir()):
        if path.name in skip or path.name.startswith(".") or path.name == "__pycache__":
            continue
        if path.is_dir():
            shutil.copytree(path, out / path.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(path, out / path.name)
