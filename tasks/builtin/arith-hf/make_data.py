"""How problems.jsonl (the benchmark) and train.jsonl (the training file) of arith-hf were made, once:
`python tasks/builtin/arith-hf/make_data.py`. GSM8K-style word problems, one or two steps; the answer is a
number and the worked solution ends with `The answer is N.`. The two files come from different seeds, and
no training question is a benchmark question.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tasks.arithlm import ITEMS, NAMES, PRONOUNS  # noqa: E402

HERE = Path(__file__).parent


def _add(rng, name, he, item):
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    return (f"{name} has {a} {item}. {he} buys {b} more. How many {item} does {name} have now?",
            f"{a} + {b} = {a + b}.", a + b)


def _sub(rng, name, he, item):
    b, c = rng.randint(1, 9), rng.randint(1, 9)
    a = b + c
    return (f"{name} has {a} {item}. {he} gives {b} of them away. How many {item} does {name} have left?",
            f"{a} - {b} = {c}.", c)


def _mul(rng, name, he, item):
    a, b = rng.randint(2, 9), rng.randint(2, 5)
    return (f"There are {a} boxes with {b} {item} in each box. How many {item} are there in all?",
            f"{a} * {b} = {a * b}.", a * b)


def _div(rng, name, he, item):
    a, b = rng.randint(2, 9), rng.randint(2, 5)
    return (f"{name} shares {a * b} {item} equally among {b} friends. How many {item} does each friend get?",
            f"{a * b} / {b} = {a}.", a)


def _two_step(rng, name, he, item):
    a, b, c = rng.randint(1, 9), rng.randint(2, 4), rng.randint(2, 4)
    return (f"{name} has {a} {item}. {he} buys {b} bags with {c} {item} in each bag. How many {item} does "
            f"{name} have now?", f"{b} * {c} = {b * c}. {a} + {b * c} = {a + b * c}.", a + b * c)


KINDS = (_add, _sub, _mul, _div, _two_step)


def problem(rng: random.Random, kinds=KINDS) -> dict:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    question, steps, answer = rng.choice(kinds)(rng, name, PRONOUNS[name], item)
    return {"question": question, "answer": str(answer), "solution": f"{steps} The answer is {answer}."}


def draw(seed: int, n: int, taken: set[str], kinds=KINDS) -> list[dict]:
    rng, out = random.Random(seed), []
    while len(out) < n:
        row = problem(rng, kinds)
        if row["question"] not in taken:
            taken.add(row["question"])
            out.append(row)
    return out


def write(folder: Path, kinds, seeds: tuple[int, int], prefix: str) -> None:
    """problems.jsonl (1000, ids `<prefix>-NNNN`) and train.jsonl (4000 worked problems) into `folder`, drawn
    from `kinds` with the benchmark's and the training file's seeds; no training question is a benchmark one."""
    taken: set[str] = set()
    bench = draw(seeds[0], 1000, taken, kinds)
    train = draw(seeds[1], 4000, taken, kinds)
    with open(folder / "problems.jsonl", "w") as fh:
        for i, row in enumerate(bench):
            fh.write(json.dumps({"id": f"{prefix}-{i:04d}", "question": row["question"], "answer": row["answer"]}) + "\n")
    with open(folder / "train.jsonl", "w") as fh:
        for row in train:
            fh.write(json.dumps(row) + "\n")


def main() -> None:
    write(HERE, KINDS, (20261202, 777), "arith")


if __name__ == "__main__":
    main()
