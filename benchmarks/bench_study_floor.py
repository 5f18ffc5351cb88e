"""How well a comparison filled the machine: its wall time against its floor, the job-seconds its cells used
divided by the cores (issue 21 point 4 asks for at most 1.15x).

The wall time is the time any cell was running: the union of every cell session's span (session_start to its
last row) in events.jsonl of every cell under OUT/cells/, so a study stopped and resumed later counts only the
stretches its cells ran; the job-seconds are each cell's ledger (result.json `budget_used.job_seconds`),
training and evaluation jobs alike. The noise-floor runs are not cells and are left out (they ran before).
Cells whose result.json records the verifier's job (`verifier_seconds`, CPU-seconds of its cgroup) also give
the floor with that work counted: the verifier scores every cell outside its budget, so no study can go below it.

Run: `.venv/bin/python benchmarks/bench_study_floor.py OUT [--cores N] [--arm NAME ...]` (`--arm`: only those arms'
cells, e.g. the ablation arms a resumed study added, which ran in a stretch of their own)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _sessions(rows: list[dict]) -> list[tuple[float, float]]:
    """(start, end) of each session of one run: from its session_start to its last row before the next."""
    spans: list[tuple[float, float]] = []
    for row in rows:
        if row.get("event") == "session_start":
            spans.append((row["ts"], row["ts"]))
        elif spans:
            spans[-1] = (spans[-1][0], max(spans[-1][1], row["ts"]))
    return spans


def _union(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def measure(out: Path, arms: list[str] | None = None) -> dict:
    spans, used, cells, verifier, verified = [], 0.0, 0, 0.0, 0
    for result in sorted(out.glob("cells/*/*/s*/result.json")):
        if arms and result.parent.parent.name not in arms:
            continue
        spans += _sessions(_events(result.parent / "events.jsonl"))
        saved = json.loads(result.read_text())
        used += float((saved.get("budget_used") or {}).get("job_seconds") or 0.0)
        cpu = (saved.get("verifier_seconds") or {}).get("cpu")
        if cpu is not None:
            verifier, verified = verifier + float(cpu), verified + 1
        cells += 1
    first_to_last = max(e for _, e in spans) - min(s for s, _ in spans) if spans else 0.0
    return {"cells": cells, "job_seconds": used, "wall": _union(spans), "first_to_last": first_to_last,
            "verifier_cpu": verifier if verified == cells else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--arm", action="append", default=None, help="only this arm's cells (repeatable)")
    args = p.parse_args()
    m = measure(args.out, args.arm)
    floor = m["job_seconds"] / args.cores
    print("| study | cells | job-seconds used | cores | floor (s) | wall, cells running (s) | first to last (s) | "
          "wall / floor | verifier CPU-s | wall / floor with the verifier |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    name = args.out.name + (f" ({', '.join(args.arm)})" if args.arm else "")
    verifier = m["verifier_cpu"]
    with_verifier = (f"{verifier:.0f} | {m['wall'] / ((m['job_seconds'] + verifier) / args.cores):.2f}"
                     if verifier is not None else "- (not recorded by every cell) | -")
    print(f"| {name} | {m['cells']} | {m['job_seconds']:.0f} | {args.cores} | {floor:.0f} | {m['wall']:.0f} | "
          f"{m['first_to_last']:.0f} | **{m['wall'] / floor:.2f}** | {with_verifier} |" if floor
          else f"| {name} | {m['cells']} | 0 | - | - | - | - | - | - | - |")


if __name__ == "__main__":
    main()
