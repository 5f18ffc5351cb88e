"""reverse items: a lowercase string written backwards (easy: 3-5 letters, hard: 6-9 letters)."""

import random
import string


def generate(rng: random.Random, hard: bool) -> dict:
    n = rng.randint(6, 9) if hard else rng.randint(3, 5)
    word = "".join(rng.choice(string.ascii_lowercase) for _ in range(n))
    return {"prompt": f"reverse {word} =", "answer": word[::-1]}
