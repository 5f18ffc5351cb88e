"""Where a run's job-seconds went: training loops, against everything else (start-up, evaluations, saving).

For each run folder: the job-seconds charged to every job (events.jsonl `job_finished`), split into the
training jobs' own training loops (`train_seconds:` in their stdout, printed by the starter and the recipe),
their start-up before `main()` (`startup_seconds:`), and the rest: the training jobs' own checkpoint
evaluations and saving, and the harness's dev and soup evaluations (whole jobs). Issue 21 point 3 asks warm
jobs to at least halve the share spent on start-up and evaluations (its count: the training jobs' imports and
the harness's and the editor's evaluation jobs); the share outside the training loops, which also holds the
starter's own checkpoint evaluations, model loading and saving, is shown beside it.

Run: `.venv/bin/python benchmarks/bench_overhead.py RUN_DIR [RUN_DIR ...]` (e.g. two `make demo` runs, one
with SYNTHTEAM_WARM=0).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_KEY = re.compile(r"^(train_seconds|startup_seconds): ([0-9.]+)$", re.M)


def _summary(job_dir: Path) -> dict[str, float]:
    try:
        text = (job_dir / "stdout.log").read_text(errors="replace")
    except OSError:
        return {}
    return {k: float(v) for k, v in _KEY.findall(text)}


def split(run_dir: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    out = {"jobs": 0, "job_seconds": 0.0, "train_loop": 0.0, "startup": 0.0, "harness_evals": 0.0}
    for row in rows:
        if row.get("event") != "job_finished":
            continue
        seconds = float(row.get("device_seconds") or 0.0)
        out["jobs"] += 1
        out["job_seconds"] += seconds
        if row.get("kind") == "dev_eval":  # the harness's and the editor's evaluations: whole jobs
            out["harness_evals"] += seconds
            continue
        got = _summary(run_dir / "jobs" / str(row.get("job_id")))
        out["train_loop"] += got.get("train_seconds", 0.0)
        out["startup"] += got.get("startup_seconds", 0.0)
    total = out["job_seconds"] or 1.0
    out["outside_share"] = 1.0 - out["train_loop"] / total
    out["startup_eval_share"] = (out["startup"] + out["harness_evals"]) / total
    return out


def main() -> None:
    runs = [Path(a) for a in sys.argv[1:]]
    if not runs:
        sys.exit(__doc__)
    print("| run | jobs | job-seconds | in training loops | start-up (training jobs) | harness evaluations | "
          "start-up + evaluations | outside the training loops |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        s = split(run)
        print(f"| {run.name} | {s['jobs']} | {s['job_seconds']:.1f} | {s['train_loop']:.1f} | {s['startup']:.1f} | "
              f"{s['harness_evals']:.1f} | **{s['startup_eval_share']:.1%}** | {s['outside_share']:.1%} |")


if __name__ == "__main__":
    main()
