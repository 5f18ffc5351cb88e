"""Device utilisation of a real run: the share of the team's budget window in which the device slots are
running jobs (goal >= 90%), and where the idle slot-seconds go (before the first job, between jobs, after
the last job started). Runs the scripted team on a task in the sandbox, so it takes the task's wall budget.

Run: `.venv/bin/python benchmarks/bench_busy.py [--team research] [--task reverse] [--budget 4m] [--seeds 0 1]`
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from team import RunOptions, start_run  # noqa: E402
from team.engine.records.events import read_events  # noqa: E402

GOAL = 0.90


def idle_breakdown(events: list[dict], capacity: int) -> dict[str, float]:
    """Busy and idle slot-seconds over the team window (team_start to the last job's end or team end)."""
    start = next(r["ts"] for r in events if r["event"] == "team_start")
    changes: list[tuple[float, int]] = []
    for r in events:
        if r["event"] == "job_started" and r.get("role") != "editor":
            changes.append((r["ts"], +1))
        elif r["event"] == "job_finished" and r.get("kind") != "dev_eval":
            changes.append((r["ts"], -1))
    ends = [r["ts"] for r in events if r["event"] in ("verify_start", "session_end")]
    end = min(ends) if ends else max(t for t, _ in changes)
    first = min((t for t, d in changes if d > 0), default=end)
    last_start = max((t for t, d in changes if d > 0), default=end)
    out = {"window": end - start, "busy": 0.0, "idle_head": 0.0, "idle_middle": 0.0, "idle_tail": 0.0}
    running, t_prev = 0, start
    for t, d in sorted(changes) + [(end, 0)]:
        span = max(t - t_prev, 0.0)
        out["busy"] += min(running, capacity) * span
        idle = max(capacity - running, 0) * span
        out["idle_head" if t <= first else "idle_tail" if t_prev >= last_start else "idle_middle"] += idle
        running, t_prev = running + d, t
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--team", default="research")
    p.add_argument("--task", default="reverse")
    p.add_argument("--budget", default=None, help="as `synthteam run --budget` (default: the task's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--keep", default=None, help="keep the run directories under this folder")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_busy_") as scratch:
        tmp = args.keep or scratch
        for seed in args.seeds:
            out = Path(tmp) / f"run{seed}"
            result = start_run(RunOptions(team=args.team, task=args.task, budget=args.budget, seed=seed,
                                          out=str(out), progress=False))
            b = idle_breakdown(read_events(out / "events.jsonl"), result["device_slots"])
            rows.append((seed, result, b, result["device_slots"]))
    print(f"\n{args.team} on {args.task}, budget {args.budget or 'task default'}: device slots busy over the team window")
    print("| seed | slots | window s | busy share | idle: head | between jobs | tail | job-s used / limit | "
          "stop | test |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed, result, b, cap in rows:
        slot_s = b["window"] * cap
        used, limit = result["budget_used"].get("job_seconds"), result["budget_limits"].get("job_seconds")
        print(f"| {seed} | {cap} | {b['window']:.1f} | {result['device_busy_share']:.3f} | "
              f"{b['idle_head'] / slot_s:.3f} | {b['idle_middle'] / slot_s:.3f} | {b['idle_tail'] / slot_s:.3f} | "
              f"{used:.0f} / {limit:.0f} | {result['stop_reason']} | {result['test_score']:.3f} |")
    mean = sum(r[1]["device_busy_share"] for r in rows) / len(rows)
    print(f"\nmean busy share {mean:.3f}; goal >= {GOAL:.2f}: {'MET' if mean >= GOAL else 'MISSED'}")


if __name__ == "__main__":
    main()
