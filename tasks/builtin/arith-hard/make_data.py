"""How problems.jsonl (the benchmark) and train.jsonl (the training file) of arith-hard were made, once:
`python tasks/builtin/arith-hard/make_data.py`. arith-hf's five kinds of word problem, plus four whose numbers
arith-lm never saw in pre-training (two-digit sums and differences, products and quotients by 6 to 9): the base
knows the easy kinds' arithmetic and none of the hard kinds', so a better recipe learns more of the hard facts and
the score grows by degrees rather than in one step. The two files come from different seeds, and no training
question is a benchmark question.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "arith-hf"))
import make_data as arith_hf  # noqa: E402  (arith-hf's generator and kinds)

HERE = Path(__file__).parent


def _add_big(rng, name, he, item):
    a, b = rng.randint(10, 59), rng.randint(2, 9)
    return (f"{name} has {a} {item}. {he} buys {b} more. How many {item} does {name} have now?",
            f"{a} + {b} = {a + b}.", a + b)


def _sub_big(rng, name, he, item):
    b, c = rng.randint(2, 9), rng.randint(10, 49)
    return (f"{name} has {b + c} {item}. {he} gives {b} of them away. How many {item} does {name} have left?",
            f"{b + c} - {b} = {c}.", c)


def _mul_big(rng, name, he, item):
    a, b = rng.randint(2, 9), rng.randint(6, 9)
    return (f"There are {a} boxes with {b} {item} in each box. How many {item} are there in all?",
            f"{a} * {b} = {a * b}.", a * b)


def _div_big(rng, name, he, item):
    a, b = rng.randint(2, 9), rng.randint(6, 9)
    return (f"{name} shares {a * b} {item} equally among {b} friends. How many {item} does each friend get?",
            f"{a * b} / {b} = {a}.", a)


KINDS = (*arith_hf.KINDS, _add_big, _sub_big, _mul_big, _div_big)


def draw(seed: int, n: int, taken: set[str]) -> list[dict]:
    return arith_hf.draw(seed, n, taken, KINDS)


def main() -> None:
    arith_hf.write(HERE, KINDS, (20261204, 778), "hard")


if __name__ == "__main__":
    main()
