"""The scorers on known outputs, the evaluate.py command line, and disjoint splits."""

from __future__ import annotations

import json
import subprocess
import sys

from tasks.evaluation import accuracy, load_score
from tasks.spec import BUILTIN_DIR
from tasks.splits import SPLIT_BUCKETS, bucket_of, read_jsonl
from tests.test_tasks_support import prepared, task_cache  # noqa: F401


def test_scorers_on_known_outputs():
    add3, reverse, fncall = (load_score(BUILTIN_DIR / t / "evaluate.py") for t in ("add3", "reverse", "fncall"))
    assert add3("8610", "8610") and add3(" 8610 ", "8610") and not add3("7610", "8610") and not add3("86100", "8610")
    assert reverse("edcba", "edcba") and not reverse("abcde", "edcba")
    call = 'weather(city="oslo",unit="c")'
    assert fncall(call, call)
    assert not fncall('weather(city="oslo", unit="c")', call) and not fncall("weather(city='oslo',unit='c')", call)


def test_add3_writes_digits_least_significant_first():
    from tasks.splits import load_generator

    generate = load_generator(BUILTIN_DIR / "add3")
    rng = __import__("random").Random(3)
    for _ in range(200):
        item = generate(rng, rng.random() < 0.5)
        a, b = (int(x[::-1]) for x in item["prompt"].rstrip("=").split("+"))
        assert item["answer"] == str(a + b).zfill(4)[::-1] and len(item["prompt"]) == 8


def test_accuracy_and_stderr():
    assert accuracy([True, True, False, False]) == {"accuracy": 0.5, "stderr": 0.25, "n": 4}
    assert accuracy([]) == {"accuracy": 0.0, "stderr": 0.0, "n": 0}


def test_evaluate_py_command_line_scores_the_base_near_zero(prepared, tmp_path):  # noqa: F811
    p = prepared["reverse"]
    out = tmp_path / "out.json"
    cmd = [sys.executable, str(p.task.evaluate_path), "--model-path", str(p.base_model_dir), "--split-file",
           str(p.dev_path), "--limit", "32", "--json-output-file", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    result = json.loads(out.read_text())
    assert result["n"] == 32 and result["accuracy"] <= 0.05 and set(result) == {"accuracy", "stderr", "n"}


def test_dev_and_test_splits_are_disjoint_and_in_their_buckets(prepared):  # noqa: F811
    for p in prepared.values():
        dev, test = read_jsonl(p.dev_path), read_jsonl(p.test_path)
        assert len(dev) == p.task.splits["dev"] and len(test) == p.task.splits["test"]
        assert not {d["prompt"] for d in dev} & {t["prompt"] for t in test}
        assert all(bucket_of(t["prompt"]) in SPLIT_BUCKETS["test"] for t in test)
        assert all(bucket_of(d["prompt"]) in SPLIT_BUCKETS["dev"] for d in dev)
