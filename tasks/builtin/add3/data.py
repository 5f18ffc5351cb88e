"""add3 items: the sum of two numbers of up to three digits (hard: both have three digits)."""

import random


def generate(rng: random.Random, hard: bool) -> dict:
    if hard:
        a, b = rng.randint(100, 999), rng.randint(100, 999)
    else:
        a, b = rng.randint(0, 10 ** rng.randint(1, 2) - 1), rng.randint(0, 10 ** rng.randint(1, 3) - 1)
        if rng.random() < 0.5:
            a, b = b, a
    return {"prompt": f"{a}+{b}=", "answer": str(a + b)}
