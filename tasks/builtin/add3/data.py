"""add3 items, least-significant digit first: 123+45=168 is written `321+540=` with the answer `8610`
(operands zero-padded to 3 digits, the sum to 4), so every output digit sits at a fixed distance from the
digits it depends on (hard: both numbers have three digits)."""

import random


def _le(n: int, width: int) -> str:
    return str(n).zfill(width)[::-1]


def generate(rng: random.Random, hard: bool) -> dict:
    if hard:
        a, b = rng.randint(100, 999), rng.randint(100, 999)
    else:
        a, b = rng.randint(0, 10 ** rng.randint(1, 2) - 1), rng.randint(0, 10 ** rng.randint(1, 3) - 1)
        if rng.random() < 0.5:
            a, b = b, a
    return {"prompt": f"{_le(a, 3)}+{_le(b, 3)}=", "answer": _le(a + b, 4)}
