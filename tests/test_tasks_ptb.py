"""A PostTrainBench task folder, run as it is: benchmark.txt, an evaluate.py with PostTrainBench's command line
that calls inspect_ai.eval with the hf provider (its data and scorer in evaluation_code/), the family's chat
template in templates/, and a sidecar naming the base model. Its evaluate.py scores the harness's dev
evaluation (with --limit) and the verifier's (without); the missing sealed split is an advisory flag."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.errors import ConfigError
from tasks import load_task, prepare_task

pytestmark = pytest.mark.hf
pytest.importorskip("transformers")
pytest.importorskip("inspect_ai")

EVALUATE = '''#!/usr/bin/env python3
"""A PostTrainBench-style scorer: Inspect AI, the hf provider, the family's template from --templates-dir."""
from __future__ import annotations

import argparse
import json
import os

from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import FieldSpec, json_dataset
from inspect_ai.solver import generate

from evaluation_code.parity import even_target

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-path", type=str, default="final_model")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--json-output-file", type=str, default=None)
    parser.add_argument("--templates-dir", type=str, default="templates/")
    parser.add_argument("--max-tokens", type=int, default=4)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data = json_dataset(os.path.join(HERE, "evaluation_code", "items.jsonl"),
                        FieldSpec(input="question", target="answer", id="id"))
    template = open(os.path.join(args.templates_dir, "llama3.jinja")).read()
    other = {} if args.limit == -1 else {"limit": args.limit}
    out = inspect_eval(Task(dataset=data, solver=[generate()], scorer=even_target()), model="hf/local",
                       model_args={"model_path": args.model_path, "device": "cpu", "chat_template": template},
                       max_tokens=args.max_tokens, display="none", **other)
    if args.json_output_file is not None:
        metrics = {k: v.value for k, v in out[0].results.scores[0].metrics.items()}
        with open(args.json_output_file, "w") as f:
            json.dump(metrics, f, indent=2)


if __name__ == "__main__":
    main()
'''


def write_ptb_folder(root: Path, base: Path) -> Path:
    from tests.test_tasks_inspect import SCORER, TEMPLATE

    folder = root / "src" / "eval" / "tasks" / "sums"
    (folder / "evaluation_code").mkdir(parents=True)
    (folder / "benchmark.txt").write_text("Sums (PostTrainBench style)\n")
    (folder / "evaluate.py").write_text(EVALUATE)
    rows = [{"id": f"s{i}", "question": f"What is {i} plus 3?", "answer": str(i + 3)} for i in range(12)]
    (folder / "evaluation_code" / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "evaluation_code" / "__init__.py").write_text("")
    (folder / "evaluation_code" / "parity.py").write_text(SCORER)
    templates = root / "src" / "eval" / "templates"  # PostTrainBench's shared templates/
    templates.mkdir()
    (templates / "llama3.jinja").write_text(TEMPLATE)
    (folder / "synthteam.yaml").write_text(f"base_model: {base}\ndevice: cpu\ndev_limit: 4\nmax_tokens: 4\n"
                                           "templates: ../../templates\nbudget: {wall: 2m, job_seconds: 4m, job: 60s}\n")
    return folder


@pytest.fixture(scope="module")
def ptb(tmp_path_factory):
    from tests.test_tasks_hf import make_tiny_llama

    root = tmp_path_factory.mktemp("ptb")
    base = make_tiny_llama(root / "base")
    folder = write_ptb_folder(root, base)
    return prepare_task(load_task(folder), root / "cache")


def test_the_folder_loads_as_a_task_with_its_card_from_benchmark_txt(ptb):
    task = ptb.task
    assert task.evaluator == "ptb" and task.benchmark == "Sums (PostTrainBench style)" and task.kind == "hf"
    assert "Sums (PostTrainBench style)" in task.description and task.device == "cpu"
    assert (ptb.visible_dir / "evaluate.py").read_bytes() == (task.root / "evaluate.py").read_bytes()
    card = json.loads((ptb.visible_dir / "task.json").read_text())
    assert card["evaluator"] == "ptb" and card["sealed"] is False
    assert card["chat_template"] == "templates/llama3.jinja"  # the family's file, found as PostTrainBench does
    assert (ptb.visible_dir / "templates" / "llama3.jinja").is_file() and not (ptb.visible_dir / "synthteam.yaml").exists()


def test_a_folder_without_evaluate_py_or_sidecar_is_one_line_exit_2(ptb, tmp_path):
    import shutil

    folder = tmp_path / "sums"
    shutil.copytree(ptb.task.root, folder)
    (folder / "synthteam.yaml").unlink()
    with pytest.raises(ConfigError, match="needs a sidecar synthteam.yaml with at least base_model"):
        load_task(folder)
    (folder / "evaluate.py").unlink()
    proc = subprocess.run([sys.executable, "-m", "team.cli", "task", "prepare", str(folder)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "evaluate.py:1: missing" in proc.stderr


def test_its_evaluate_py_scores_the_dev_evaluation_with_a_limit(ptb, tmp_path):
    from sandbox import LocalExecutor
    from tasks.jobs import dev_eval_job, read_dev_score

    async def go():
        executor = LocalExecutor(tmp_path)
        return await executor.wait(await executor.submit(dev_eval_job(ptb, ptb.base_model_dir, wall_seconds=300)))

    result = asyncio.run(go())
    assert result.ok, result.stderr_tail
    assert read_dev_score(result) == (0.5, 4)  # the first 4 items (answers 3, 4, 5, 6): the sidecar's dev_limit
    assert len(list((Path(result.workdir) / "eval").glob("*.eval"))) == 1  # Inspect's log, via INSPECT_LOG_DIR


def test_the_verifier_runs_it_on_every_item_and_flags_the_unsealed_split(ptb, tmp_path):
    from tasks import verify

    verdict = verify(ptb.base_model_dir, ptb.task, cache_dir=ptb.cache_dir, log_dir=tmp_path / "logs")
    assert verdict["n"] == 12 and verdict["raw_score"] == 0.5 and verdict["test_score"] == 0.5
    assert [(f["flag"], f.get("advisory")) for f in verdict["flags"]] == [("unsealed_split", True)]
    assert list((tmp_path / "logs" / "model").glob("*.eval"))


def test_validate_takes_a_postrainbench_folder_as_a_task(ptb):
    proc = subprocess.run([sys.executable, "-m", "team.cli", "validate", str(ptb.task.root)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and f"ok: {ptb.task.root}: task" in proc.stdout, proc.stderr
