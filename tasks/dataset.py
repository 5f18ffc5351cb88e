"""A fixed benchmark dataset (JSONL or CSV in the task folder) as task items, and its sealed split.

Each record becomes an item `{"id", "prompt", "answer"}` (plus `"choices"` for multiple choice) by the
benchmark's field names. The items are ordered by sha256 of the cache's secret salt and their id: the
first `splits.test` of them are the sealed test split, the next `splits.dev` the visible dev split, so
the split cannot be rebuilt without the salt, and two caches seal different items. An item whose prompt
is also a test item's never reaches dev or the training pool. An optional training file becomes the
visible training pool: `{"prompt", "answer", "target", "hard": false}` (answer: what to train on; target:
what its scorer compares against).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from sandbox.errors import ConfigError

__all__ = ["read_items", "split_items", "pool_items", "check_splits", "training_answer"]


def _records(path: Path) -> list[tuple[int, dict]]:
    """(line, record) of a JSONL or CSV file; ConfigError `FILE:LINE: ...` for what cannot be read."""
    if not path.is_file():
        raise ConfigError(f"{path}:1: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}:1: not UTF-8 text ({exc.reason})") from None
    if path.suffix.lower() == ".csv":
        rows = csv.DictReader(text.splitlines())
        return [(rows.line_num, dict(row)) for row in rows]
    if path.suffix.lower() not in (".jsonl", ".json"):
        raise ConfigError(f"{path}:1: a benchmark dataset is a .jsonl or .csv file")
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ConfigError(f"{path}:{number}: not a JSON object")
        out.append((number, record))
    return out


def _item(path: Path, line: int, record: dict, fields: Mapping[str, str | None]) -> dict:
    names = {k: v for k, v in fields.items() if v}
    missing = [f"{names[k]!r} ({k})" for k in names if names[k] not in record]
    if missing:
        have = ", ".join(map(repr, record)) or "none"
        raise ConfigError(f"{path}:{line}: missing field {', '.join(missing)}; this record has {have}")
    item = {"id": str(record[names["id"]]) if "id" in names else str(line),
            "prompt": record[names["input"]], "answer": record[names["target"]]}
    if not isinstance(item["prompt"], str) or not item["prompt"].strip():
        raise ConfigError(f"{path}:{line}: field {names['input']!r} must be non-empty text")
    if isinstance(item["answer"], int | float) and not isinstance(item["answer"], bool):
        item["answer"] = f"{item['answer']:g}" if isinstance(item["answer"], float) else str(item["answer"])
    if not isinstance(item["answer"], str):
        raise ConfigError(f"{path}:{line}: field {names['target']!r} must be text or a number")
    if "choices" in names:
        choices = record[names["choices"]]
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise ConfigError(f"{path}:{line}: field {names['choices']!r} must be a list of at least two strings")
        item["choices"] = choices
    if "solution" in names:
        item["solution"] = str(record[names["solution"]])
    return item


def read_items(path: Path, fields: Mapping[str, str | None]) -> list[dict]:
    """The file's items; ConfigError `FILE:LINE: ...` for a bad record or a repeated id."""
    path = Path(path)
    items, seen = [], {}
    for line, record in _records(path):
        item = _item(path, line, record, fields)
        if item["id"] in seen:
            raise ConfigError(f"{path}:{line}: id {item['id']!r} repeats line {seen[item['id']]} (ids must be unique)")
        seen[item["id"]] = line
        items.append(item)
    if not items:
        raise ConfigError(f"{path}:1: the dataset has no items")
    return items


def check_splits(n_items: int, dev: int, test: int, dataset: str) -> str | None:
    """What is wrong with asking `dev` + `test` items of a dataset of `n_items` (None: nothing)."""
    if dev + test > n_items:
        return (f"splits ask for dev {dev} + test {test} items, but {dataset} has {n_items} "
                f"(set splits: {{dev: N, test: M}} with N + M <= {n_items})")
    return None


def _order(salt: str, item_id: str) -> str:
    return hashlib.sha256(f"{salt}\0{item_id}".encode()).hexdigest()


def split_items(items: Sequence[dict], salt: str, dev: int, test: int) -> tuple[list[dict], list[dict]]:
    """(dev, test): the test split is the first `test` items by salted hash of their ids, dev the next `dev`
    whose prompts are not test prompts."""
    ordered = sorted(items, key=lambda i: _order(salt, i["id"]))
    sealed = ordered[:test]
    prompts = {_norm(i["prompt"]) for i in sealed}
    visible = [i for i in ordered[test:] if _norm(i["prompt"]) not in prompts][:dev]
    return visible, sealed


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def training_answer(target: str, scorer: str) -> str:
    """What a model should write for `target`: for a multiple-choice scorer, Inspect's `ANSWER: X` format."""
    target = target.strip()
    return f"ANSWER: {target}" if scorer == "choice" and len(target) == 1 and target.isalpha() else target


def pool_items(path: Path, fields: Mapping[str, str | None], scorer: str, test: Sequence[dict]) -> list[dict]:
    """The training file's items as the visible pool, without any item whose prompt is a test prompt."""
    sealed = {_norm(i["prompt"]) for i in test}
    pool = []
    for item in read_items(path, fields):
        if _norm(item["prompt"]) in sealed:
            continue
        answer = item.get("solution") or training_answer(item["answer"], scorer)
        row = {"prompt": item["prompt"], "answer": answer, "target": item["answer"], "hard": False}
        if "choices" in item:
            row["choices"] = item["choices"]
        pool.append(row)
    return pool
