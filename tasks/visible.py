"""The visible folder of a prepared task: everything a job may read about its task, and nothing that
lets it rebuild the sealed test split.

    visible/dev.jsonl      the dev split (prompt, answer)
    visible/train.jsonl    the training pool (prompt, answer, hard) from the training buckets
    visible/task.json      the public task card: name, description, kind, rules, knobs with help texts, ...
    visible/evaluate.py    a copy of the scorer, for the job's own dev evaluations

The pool holds up to `POOL_CAP` distinct easy and as many hard items (fewer when the task's generator
runs dry, or when the `n_train` knob's upper bound is lower), drawn once at prepare time from a fixed seed.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.units import parse_duration
from tasks.spec import Knob, Task

__all__ = ["POOL_CAP", "POOL_SEED", "pool_size", "task_card", "write_visible", "read_card", "card_knobs",
           "validate_card_config", "sample_pool"]

POOL_CAP = 50_000  # items per difficulty: more than a 60 s CPU job sees (about 30k examples), 5 MB on disk
POOL_SEED = 3003  # the pool's draw; the test split's seed is not derived from it


def pool_size(task: Task) -> int:
    """Items per difficulty the pool asks the generator for."""
    knob = task.knobs.get("n_train")
    high = int(knob.high) if knob is not None and knob.high is not None else POOL_CAP
    return max(1, min(high, POOL_CAP))


def task_card(task: Task, pool: Sequence[Mapping[str, Any]]) -> dict:
    """The public description of a task (no seeds, no reference recipe, no paths)."""
    job = task.budget.get("job", "60s")
    return {
        "name": task.name, "description": task.description, "kind": task.kind, "benchmark": task.benchmark,
        "max_new_tokens": task.max_new_tokens, "rules": list(task.rules), "device": task.device,
        "default_job_seconds": parse_duration(job),
        "knobs": {name: _knob_row(k) for name, k in task.knobs.items()},
        "pool": {"train": len(pool), "hard": sum(1 for i in pool if i.get("hard")), "cap_per_kind": POOL_CAP},
        "splits": {"dev": task.splits.get("dev")},
    }


def _knob_row(knob: Knob) -> dict:
    row: dict[str, Any] = {"kind": knob.kind, "default": knob.default, "help": knob.help}
    if knob.kind in ("float", "int"):
        row.update(low=knob.low, high=knob.high, log=knob.log)
    if knob.kind == "choice":
        row["choices"] = list(knob.choices)
    if knob.when:
        row["when"] = {name: list(values) for name, values in knob.when}
    return row


def write_visible(task: Task, out: Path, dev: Sequence[dict], pool: Sequence[dict]) -> None:
    from tasks.splits import write_jsonl

    write_jsonl(out / "dev.jsonl", dev)
    write_jsonl(out / "train.jsonl", pool)
    (out / "task.json").write_text(json.dumps(task_card(task, pool), indent=1, sort_keys=True) + "\n")
    shutil.copyfile(task.evaluate_path, out / "evaluate.py")


def read_card(visible_dir: Path) -> dict:
    return json.loads((Path(visible_dir) / "task.json").read_text())


def card_knobs(card: Mapping[str, Any]) -> dict[str, Knob]:
    """The card's knobs as `Knob`s (to validate a config inside a job)."""
    out = {}
    for name, row in card["knobs"].items():
        out[name] = Knob(name, row["kind"], row.get("low"), row.get("high"), bool(row.get("log")),
                         tuple(row.get("choices") or ()), row.get("default"), row.get("help", ""),
                         tuple((k, tuple(v)) for k, v in (row.get("when") or {}).items()))
    return out


def validate_card_config(card: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[dict, list[str]]:
    """Defaults overlaid with `config`, and one line per unknown or bad key."""
    knobs, problems = card_knobs(card), []
    out = {name: knob.default for name, knob in knobs.items()}
    for key, value in config.items():
        if key not in knobs:
            problems.append(f"config: unknown knob {key!r} (task {card['name']} has: {', '.join(knobs)})")
            continue
        try:
            out[key] = knobs[key].validate(value)
        except ValueError as exc:
            problems.append(f"config: {exc}")
    return out, problems


def sample_pool(pool: Sequence[dict], n: int, hard_frac: float, rng: random.Random) -> list[dict]:
    """`n` items of the pool, round(n x hard_frac) of them hard where the pool has enough (the other kind
    fills any shortfall), in a random order; the whole pool when `n` is larger."""
    easy = [i for i in pool if not i.get("hard")]
    hard = [i for i in pool if i.get("hard")]
    rng.shuffle(easy)
    rng.shuffle(hard)
    n = min(n, len(pool))
    n_hard = min(round(n * hard_frac), len(hard))
    n_easy = min(n - n_hard, len(easy))
    n_hard = min(n - n_easy, len(hard))
    items = hard[:n_hard] + easy[:n_easy]
    rng.shuffle(items)
    return items
