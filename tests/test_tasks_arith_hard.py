"""The built-in arith-hard task: arith-hf's word problems plus four kinds whose arithmetic arith-lm never saw in
pre-training, so post-training has facts to learn by degrees (issue 21, point 5). These check the data as a
researcher would before trusting a study on it: the files are what make_data.py makes, no benchmark question is a
training question, and the hard kinds' facts are absent from arith-lm's pre-training text."""

from __future__ import annotations

import importlib.util
import json
import random
import re

from tasks import load_task
from tasks.arithlm import ARITH_LM, corpus_text
from tasks.spec import BUILTIN_DIR

FOLDER = BUILTIN_DIR / "arith-hard"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FOLDER / name).read_text().splitlines()]


def _equation(solution: str) -> str:
    return solution.split(" The answer is")[0].split(". ")[-1].rstrip(".")  # the last worked line: "37 + 8 = 45"


def _hard(equation: str, two_step: bool = False) -> bool:
    """A sum with a two-digit first term, a difference of two digits, a product or quotient by 6 to 9."""
    a, op, b = re.match(r"(\d+) ([-+*/]) (\d+) =", equation).groups()
    if op in "+-":
        return not two_step and int(a) >= 10 and (op == "+" or int(a) - int(b) >= 10)
    return int(b) >= 6


def test_arith_hard_is_an_inspect_scored_hf_task_on_arith_lm_with_a_longer_horizon():
    task = load_task("arith-hard")
    assert (task.kind, task.evaluator, task.base_model) == ("hf", "inspect", "arith-lm")
    assert task.budget["job_tokens"] == "1.6M" and (task.splits["dev"], task.splits["test"]) == (64, 768)
    template = (FOLDER / "templates" / "arith.j2").read_text()
    assert template == (BUILTIN_DIR / "arith-hf" / "templates" / "arith.j2").read_text()  # one cached base for both


def test_the_files_are_what_make_data_makes_and_no_benchmark_question_is_trained_on():
    spec = importlib.util.spec_from_file_location("arith_hard_make_data", FOLDER / "make_data.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    taken: set[str] = set()
    bench, train = make.draw(20261204, 1000, taken), make.draw(778, 4000, taken)
    assert [r["question"] for r in bench] == [r["question"] for r in _rows("problems.jsonl")]
    assert train == _rows("train.jsonl")
    assert not {r["question"] for r in bench} & {r["question"] for r in train}


def test_the_hard_kinds_are_about_four_in_nine_and_arith_lm_never_saw_their_facts():
    train = _rows("train.jsonl")
    hard = [r for r in train if _hard(_equation(r["solution"]), "bags" in r["question"])]
    assert 0.38 < len(hard) / len(train) < 0.5  # four kinds of nine, drawn uniformly
    text = corpus_text(random.Random(ARITH_LM["seed"]), ARITH_LM["corpus_chars"])  # arith-lm's pre-training text
    seen = {_equation(r["solution"]) for r in train if _equation(r["solution"]) in text}
    assert seen and not any(_hard(eq) for eq in seen)  # the easy kinds' facts are there, the hard ones' are not
    assert not any(_equation(r["solution"]) in text for r in hard)
