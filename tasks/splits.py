"""Task items and splits: every prompt belongs to one hash bucket, so test, dev and training data are
disjoint by construction and the recipe never needs to see the test split to avoid it.

Bucket 0 of 16 is the test split's, bucket 1 the dev split's, the rest are for training.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

__all__ = ["SPLIT_BUCKETS", "bucket_of", "load_generator", "make_items", "make_pool", "read_jsonl", "write_jsonl"]

N_BUCKETS = 16
SPLIT_BUCKETS = {"test": (0,), "dev": (1,), "train": tuple(range(2, N_BUCKETS))}

Generator = Callable[[random.Random, bool], dict]


def bucket_of(prompt: str) -> int:
    return int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) % N_BUCKETS


def load_generator(task_root: Path) -> Generator:
    """The task's `data.py:generate(rng, hard) -> {"prompt", "answer"}`."""
    module = _load_module(Path(task_root) / "data.py", f"synthteam_task_data_{Path(task_root).name}")
    generate = getattr(module, "generate", None)
    if not callable(generate):
        raise ValueError(f"{task_root}/data.py: no generate(rng, hard) function")
    return generate


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_items(generate: Generator, rng: random.Random, n: int, hard_frac: float, split: str) -> list[dict]:
    """`n` distinct items of `split` (hard ones with probability `hard_frac`)."""
    allowed, seen, items = set(SPLIT_BUCKETS[split]), set(), []
    tries = 0
    while len(items) < n:
        tries += 1
        if tries > 200 * n + 10_000:
            raise ValueError(f"the generator cannot produce {n} distinct {split} items")
        item = generate(rng, rng.random() < hard_frac)
        prompt = item["prompt"]
        if prompt in seen or bucket_of(prompt) not in allowed:
            continue
        seen.add(prompt)
        items.append({"prompt": prompt, "answer": item["answer"]})
    return items


def make_pool(generate: Generator, rng: random.Random, per_kind: int, split: str = "train") -> list[dict]:
    """Up to `per_kind` distinct easy and as many hard items of `split`, each with its `hard` flag.

    Unlike `make_items` it never fails for a small generator: a kind stops when `per_kind` items are
    found or when the last `max(2000, 2 x found)` draws of it brought nothing new (the generator ran dry).
    """
    allowed, seen, items = set(SPLIT_BUCKETS[split]), set(), []
    for hard in (False, True):
        found, stale = 0, 0
        while found < per_kind and stale < max(2000, 2 * found):
            item = generate(rng, hard)
            prompt = item["prompt"]
            if prompt in seen or bucket_of(prompt) not in allowed:
                stale += 1
                continue
            seen.add(prompt)
            items.append({"prompt": prompt, "answer": item["answer"], "hard": hard})
            found, stale = found + 1, 0
    return items


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tmp.replace(path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
