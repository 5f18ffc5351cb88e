"""How well a comparison filled the machine: its wall time against its floor, the job-seconds its cells used
divided by the cores (issue 21 point 4 asks for at most 1.15x).

The wall time is from the first cell's session start to the last cell's session end (events.jsonl of every
cell under OUT/cells/), so a study resumed across sessions counts only the time its cells ran when
`--span` names the cells of one stretch; the job-seconds are each cell's ledger (result.json
`budget_used.job_seconds`), training and evaluation jobs alike. The noise-floor runs are not cells and are
left out (they ran before).

Run: `.venv/bin/python benchmarks/bench_study_floor.py OUT [--cores N]`
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def measure(out: Path) -> dict:
    starts, ends, used, cells = [], [], 0.0, 0
    for result in sorted(out.glob("cells/*/*/s*/result.json")):
        rows = _events(result.parent / "events.jsonl")
        starts += [r["ts"] for r in rows if r.get("event") == "session_start"]
        ends += [r["ts"] for r in rows if r.get("event") == "session_end"]
        used += float((json.loads(result.read_text()).get("budget_used") or {}).get("job_seconds") or 0.0)
        cells += 1
    return {"cells": cells, "job_seconds": used, "wall": max(ends) - min(starts) if starts and ends else 0.0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    args = p.parse_args()
    m = measure(args.out)
    floor = m["job_seconds"] / args.cores
    print("| study | cells | job-seconds used | cores | floor (s) | wall (s) | wall / floor |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.out.name} | {m['cells']} | {m['job_seconds']:.0f} | {args.cores} | {floor:.0f} | {m['wall']:.0f} | "
          f"**{m['wall'] / floor:.2f}** |" if floor else f"| {args.out.name} | {m['cells']} | 0 | - | - | - | - |")


if __name__ == "__main__":
    main()
