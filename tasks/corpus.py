"""The generic pre-training corpus of the built-in base model: numbers, words, brackets, lists.

It teaches characters, digits, counting and copying, but none of the built-in tasks' formats, so the
base model scores near zero on every task before post-training. Also used for replay during recipes.
"""

from __future__ import annotations

import random

__all__ = ["corpus_line", "corpus_text", "make_word"]

_SYLLABLES = ["ka", "lo", "mi", "su", "te", "ra", "no", "vi", "pe", "du", "zo", "ba", "ri", "ge", "fa", "hu"]
_BRACKETS = ["()", "[]", "{}", "<>"]


def make_word(rng: random.Random, lo: int = 1, hi: int = 3) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(lo, hi)))


def _counting(rng: random.Random) -> str:
    start, step = rng.randint(0, 999), rng.choice([1, 1, 1, 2, 5, 10])
    return " ".join(str(start + i * step) for i in range(rng.randint(3, 8)))


def _numbers(rng: random.Random) -> str:
    return "nums " + " ".join(str(rng.randint(0, 10 ** rng.randint(1, 4))) for _ in range(rng.randint(2, 6)))


def _sentence(rng: random.Random) -> str:
    words = [make_word(rng) for _ in range(rng.randint(2, 7))]
    return " ".join(words).capitalize() + rng.choice([".", "!", "?"])


def _brackets(rng: random.Random, depth: int = 0) -> str:
    out = []
    for _ in range(rng.randint(1, 3)):
        pair = rng.choice(_BRACKETS)
        inner = _brackets(rng, depth + 1) if depth < 2 and rng.random() < 0.5 else ""
        out.append(pair[0] + inner + pair[1])
    return "".join(out)


def _pairs(rng: random.Random) -> str:
    return ", ".join(f"{make_word(rng, 1, 2)}: {make_word(rng)}" for _ in range(rng.randint(1, 4)))


def _copy(rng: random.Random) -> str:
    word = make_word(rng, 1, 4)
    return f"{word} {word} {word}"


_KINDS = [_counting, _numbers, _sentence, _brackets, _pairs, _copy]


def corpus_line(rng: random.Random) -> str:
    return rng.choice(_KINDS)(rng)


def corpus_text(rng: random.Random, n_chars: int) -> str:
    """About `n_chars` of corpus, one item per line."""
    lines, total = [], 0
    while total < n_chars:
        line = corpus_line(rng)
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"
