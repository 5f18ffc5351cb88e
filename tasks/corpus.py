"""The generic pre-training corpus of the built-in base model: numbers, words, brackets, lists.

It teaches characters, digits, counting and copying, but none of the built-in tasks' formats, so the
base model scores near zero on every task before post-training. `pretraining_ids` gives replay text: the
pre-training text of the base model a job starts from (this corpus, or arith-lm's own).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

__all__ = ["corpus_line", "corpus_text", "make_word", "pretraining_ids"]

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


def _pretrained_as(model_dir: Path) -> str | None:
    """The built-in model a base model directory is (or was fine-tuned from), by its lineage.json."""
    for _ in range(4):
        try:
            lineage = json.loads((model_dir / "lineage.json").read_text())
        except (OSError, ValueError):
            return None
        if lineage.get("kind") == "pretrained":
            return lineage.get("model")
        if not lineage.get("base_model"):
            return None
        model_dir = Path(lineage["base_model"])
    return None


def pretraining_ids(model_dir: str | Path, encode: Callable[[str], list[int]], rng: random.Random,
                    n_tokens: int) -> list[int]:
    """At least `n_tokens` tokens of the text the base model in `model_dir` was pre-trained on, for replay:
    arith-lm's stories and facts for arith-lm (and models fine-tuned from it), this corpus otherwise (the
    built-in tiny model's own; for a hub model, whose pre-training text is not here, a stand-in). Text is
    drawn until the tokenizer gives enough tokens: a BPE packs several characters into one."""
    if _pretrained_as(Path(model_dir)) == "arith-lm":
        from tasks.arithlm import corpus_text as text_of
    else:
        text_of = corpus_text
    parts, ids = [], []
    while len(ids) < n_tokens:
        parts.append(text_of(rng, max(256, n_tokens - len(ids)) + 64))
        ids = encode("\n".join(parts))
    return ids
