"""A new task written from tasks/README.md alone: load -> prepare -> recipe -> verify."""

from __future__ import annotations

import textwrap

from tasks import load_task, prepare_task, recipe_job, verify
from tasks.spec import BUILTIN_DIR
from tests.test_tasks_support import run_plain, task_cache  # noqa: F401

DATA_PY = '''
import random

def generate(rng: random.Random, hard: bool) -> dict:
    word = "".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 4) if hard else rng.randint(2, 3)))
    return {"prompt": f"upper {word} =", "answer": word.upper()}
'''

EVALUATE_PY = '''
"""Scorer of the upper task."""

from tasks.evaluation import main


def score(prediction: str, answer: str) -> bool:
    return prediction.strip() == answer


if __name__ == "__main__":
    main(score, max_new_tokens=12)
'''


def _knobs_block() -> str:
    text = (BUILTIN_DIR / "reverse" / "task.yaml").read_text()
    return text[text.index("knobs:"):text.index("# A good recipe")]


def test_a_task_written_from_the_readme_runs_end_to_end(task_cache, tmp_path):  # noqa: F811
    root = tmp_path / "upper"
    root.mkdir()
    (root / "data.py").write_text(DATA_PY)
    (root / "evaluate.py").write_text(EVALUATE_PY)
    (root / "task.yaml").write_text(textwrap.dedent("""\
        name: upper
        description: Write a lowercase word in capitals.
        kind: tiny
        base_model: tinylm-base
        benchmark: upper-exact
        budget: {wall: 4m, job_seconds: 8m, job: 60s}
        device: cpu
        rules: [Post-train the base model only., Do not train on test items.]
        max_new_tokens: 12
        splits: {dev: 64, test: 128, dev_seed: 1001, test_seed: 2002, hard_frac: 0.5}
        decoy: {steps: 20}
        """) + _knobs_block() + "reference: {lr: 1.0e-2, batch_size: 32}\n")
    task = load_task(root)
    prepared = prepare_task(task)
    assert prepared.decoy_model_dir.is_dir() and prepared.test_path.is_file()
    proc = run_plain(recipe_job(prepared, dict(task.reference), wall_seconds=40), tmp_path / "job")
    assert proc.returncode == 0 and "status: ok" in proc.stdout, proc.stdout + proc.stderr
    verdict = verify(tmp_path / "job" / "final_model", task, tmp_path / "job")
    assert verdict["flags"] == [] and verdict["raw_score"] > verdict["baseline_score"], verdict
