"""Whether a comparison's cells ran in one environment: synthteam's commit, the libraries, Python, the CPU and GPUs,
read from each cell's manifest.json (sandbox.host). Cells read back from an earlier session, or run on other Slurm
nodes, may not have; a table then says which cells differ and in what."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["ENV_KEYS", "cell_environments", "differences"]

ENV_KEYS = ("source", "versions", "python", "machine", "cpu", "gpus")


def _manifest(run_dir: Any) -> dict | None:
    try:
        data = json.loads((Path(run_dir) / "manifest.json").read_text())
    except (OSError, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def cell_environments(rows: list[dict]) -> dict[str, Any]:
    """{"same": one environment for every cell with a manifest, "environments": [{"environment", "cells"}, ...]
    (the most cells first), "unknown": cells without a manifest, "differences": {field: {value (JSON): cells}}
    for each field that differs}."""
    groups: dict[str, dict] = {}
    unknown = []
    for row in rows:
        cell = f"{row['task']}/{row['arm']}/s{row['seed']}"
        manifest = _manifest(row.get("run_dir"))
        if manifest is None:
            unknown.append(cell)
            continue
        env = {key: manifest.get(key) for key in ENV_KEYS}
        groups.setdefault(json.dumps(env, sort_keys=True, default=str), {"environment": env, "cells": []})["cells"] \
            .append(cell)
    environments = sorted(groups.values(), key=lambda g: -len(g["cells"]))
    return {"same": len(environments) <= 1, "environments": environments, "unknown": unknown,
            "differences": differences(environments)}


def _flat(env: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(environments: list[dict]) -> dict[str, dict[str, int]]:
    """Per field that differs between the environments: how many cells had each value (JSON), most first."""
    flats = [(_flat(g["environment"]), len(g["cells"])) for g in environments]
    fields = sorted({f for flat, _ in flats for f in flat})
    out = {}
    for field in fields:
        counts: Counter = Counter()
        for flat, cells in flats:
            counts[json.dumps(flat.get(field), default=str)] += cells
        if len(counts) > 1:
            out[field] = dict(counts.most_common())
    return out
