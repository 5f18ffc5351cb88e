"""From finished cells to the comparison: per task, arm and seed the scores, budget and flags; per task
and arm the mean with its bootstrap interval, the dev–test gap and failures; per arm the paired
difference to the reference arm (solo) with a win/loss/tie call and its p-values; per task the minimum
detectable difference (`mde`, from the noise floor and the seeds completed), the matched-budget check, and
the scripted-fallback check (cells whose LLM decisions fell back more than FALLBACK_FLAG are flagged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from team.engine.records.events import read_events
from team.engine.run.control import fallback_share, totals
from team.studies.power import mde as min_detectable
from team.studies.power import power_brief
from team.studies.stats import (
    cell_score,
    count_failures,
    dev_test_gap,
    failure_reason,
    paired_difference,
    summarize,
)

__all__ = ["compute_used", "compute_warnings", "budget_unused", "analyse", "cell_row", "cell_fallback", "best_curve", "check_budgets",
           "check_fallbacks", "tie_text", "MATCHED_KEYS", "FALLBACK_FLAG"]

MATCHED_KEYS = ("job_seconds", "tokens", "usd")  # what every arm of a task must share; wall is not compute
_TOLERANCE = 1e-3  # limits are written by the same code path: they must agree to rounding
_OVERSHOOT = 0.05  # the ledger settles a killed job's true seconds, a little past its reservation
# A cell whose LLM decisions fell back to the scripted policy more often than this is flagged: past one in
# five, the scripted policy shaped the run as much as the LLM did, and the arm no longer measures its model.
FALLBACK_FLAG = 0.2
UNUSED_NOTE = 0.15  # arms that left more than this share of their job-seconds unused (on average) are told so


def best_curve(run_dir: Path) -> list[tuple[float, float]]:
    """(job-seconds spent so far, best dev score so far) after each finished job, over every run in the cell."""
    rows = []
    for path in sorted([run_dir / "events.jsonl", *run_dir.glob("k*/events.jsonl")]):
        if path.exists():
            rows += [r for r in read_events(path) if r.get("event") == "job_finished"]
    points, spent, best = [], 0.0, None
    for row in sorted(rows, key=lambda r: r["ts"]):
        spent += float(row.get("device_seconds") or 0.0)
        if row.get("dev_accuracy") is not None and row.get("status") == "ok":
            best = max(best if best is not None else float("-inf"), float(row["dev_accuracy"]))
        if best is not None:
            points.append((round(spent, 3), best))
    return points


def cell_fallback(result: Mapping[str, Any]) -> float | None:
    """The share of a run's LLM decisions that the scripted policy made instead (None: no LLM decided)."""
    return fallback_share(totals(result.get("decisions") or {}))


def cell_row(result: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    return {"test_score": cell_score(result), "dev_score": result.get("dev_score"),
            "fallback_share": cell_fallback(result),
            "baseline_score": result.get("baseline_score"), "flags": result.get("flags", []),
            "failure": failure_reason(result), "budget_used": result.get("budget_used", {}),
            "budget_limits": result.get("budget_limits", {}), "stop_reason": result.get("stop_reason"),
            "device_slots": result.get("device_slots"), "run_dir": str(run_dir), "curve": best_curve(run_dir),
            "clock": result.get("clock", "wall")}


def _interval(summary: Any) -> dict[str, Any]:
    return {"mean": summary.mean, "ci": asdict(summary.ci), "ci_t": asdict(summary.ci_t) if summary.ci_t else None,
            "sd": summary.sd, "n": summary.n}


def _arm_summary(seeds: Mapping[int, dict], results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    order = sorted(seeds)
    tests = [seeds[s]["test_score"] for s in order]
    gap = dev_test_gap([seeds[s]["dev_score"] for s in order], tests)
    used = [seeds[s]["budget_used"].get("job_seconds") for s in order if seeds[s]["budget_used"]]
    shares = [seeds[s]["fallback_share"] for s in order if seeds[s].get("fallback_share") is not None]
    return {**_interval(summarize(tests)), "dev_test_gap": _interval(gap) if gap else None,
            "failures": count_failures(results),
            "job_seconds_used_mean": round(sum(used) / len(used), 3) if used else None,
            "fallback_share_mean": round(sum(shares) / len(shares), 4) if shares else None,
            "compute": compute_used([seeds[s] for s in order])}


def compute_used(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Per arm, the mean over seeds of what its cells used (job-seconds, tokens, model calls, wall) and of
    what they had: slot-seconds (the wall-clock limit times the job slots)."""
    def mean(values: list) -> float | None:
        values = [float(v) for v in values if v is not None]
        return round(sum(values) / len(values), 3) if values else None

    used = [r.get("budget_used") or {} for r in rows]
    slots = [(r.get("budget_limits") or {}).get("wall", 0) * (r.get("device_slots") or 0) or None for r in rows]
    return {"job_seconds": mean([u.get("job_seconds") for u in used]), "tokens": mean([u.get("tokens") for u in used]),
            "model_calls": mean([u.get("model_calls") for u in used]), "wall": mean([u.get("wall") for u in used]),
            "slot_seconds_available": mean(slots)}


def compute_warnings(arms: Mapping[str, Mapping[str, Any]], tolerance: float = 0.10) -> list[str]:
    """Arms of one task whose job-seconds used differ by more than `tolerance`: their compute is not matched
    by use, whatever their limits said."""
    used = {a: s["compute"]["job_seconds"] for a, s in arms.items() if s["compute"]["job_seconds"]}
    if len(used) < 2:
        return []
    low, high = min(used.values()), max(used.values())
    if high <= low * (1 + tolerance):
        return []
    spread = ", ".join(f"{a} {v:.1f}" for a, v in sorted(used.items(), key=lambda kv: kv[1]))
    return [f"compute not matched by use: job-seconds used differ by {100 * (high / low - 1):.0f}% between arms "
            f"(> {100 * tolerance:.0f}%): {spread}"]


def _paired(arms: Mapping[str, Mapping[int, dict]], reference: str | None, noise_sd: float | None) -> dict:
    if reference is None or reference not in arms:
        return {}
    base = {s: row["test_score"] for s, row in arms[reference].items()}
    out = {}
    for arm, seeds in arms.items():
        if arm != reference:
            diff = paired_difference({s: row["test_score"] for s, row in seeds.items()}, base, noise_sd=noise_sd)
            out[arm] = {**asdict(diff), "against": reference}
    return out


def _power(paired: Mapping[str, dict], arms: Mapping[str, Mapping[int, dict]], noise_sd: float | None,
           detect: float | None, noise_runs: int | None = None) -> dict[str, Any]:
    """Power at the seeds the comparison completed: the fewest paired seeds of any arm (else of any arm)."""
    counts = [len(d["seeds"]) for d in paired.values()] or [len(seeds) for seeds in arms.values()]
    observed = {arm: (d["sd"], len(d["seeds"])) for arm, d in paired.items()}
    return power_brief(noise_sd, min(counts) if counts else 0, detect=detect, arms=observed, noise_runs=noise_runs)


def tie_text(diff: Mapping[str, Any], task_mde: float | None, tie_threshold: float | None) -> str:
    """The call as a reader should take it: a tie says how large a difference could have gone unseen — the
    larger of the MDE planned from the noise floor and the one this arm's own paired spread gives (an arm
    that varies more than the noise floor hides larger differences than the plan said)."""
    if diff["call"] != "tie":
        return diff["call"]
    observed = min_detectable(diff.get("sd"), len(diff["seeds"]))
    known = {"planned": task_mde, "observed": observed}
    known = {k: v for k, v in known.items() if v is not None}
    if not known:
        return "tie: too few seeds to see any difference"
    which, x = max(known.items(), key=lambda kv: kv[1])
    basis = "this arm's paired spread" if which == "observed" else "the noise floor"
    if tie_threshold is not None and tie_threshold > x:
        return (f"tie: a difference under {tie_threshold:.3f} could go unseen (MDE {x:.3f} at power 0.8 from "
                f"{basis}; the 2σ rule ties anything under {tie_threshold:.3f})")
    return f"tie: a difference under {x:.3f} could go unseen (MDE at power 0.8, from {basis})"


def check_budgets(arms: Mapping[str, Mapping[int, dict]], limits: Mapping[str, float]) -> dict[str, Any]:
    """Verify from each run's ledger that every arm had the task's limits and stayed inside them."""
    problems = []
    for arm, seeds in arms.items():
        for seed, row in seeds.items():
            problems += _cell_budget_problems(f"{arm} s{seed}", row, limits)
    clocks = sorted({row.get("clock", "wall") for seeds in arms.values() for row in seeds.values()})
    if len(clocks) > 1:  # job-seconds on two clocks are not the same compute
        problems.append(f"cells counted job-seconds on different clocks ({', '.join(clocks)})")
    return {"matched": not problems, "limits": dict(limits), "problems": problems, "clock": "/".join(clocks)}


def _cell_budget_problems(name: str, row: Mapping[str, Any], limits: Mapping[str, float]) -> list[str]:
    if row.get("failure", "") and str(row["failure"]).startswith("crashed"):
        return []  # a crashed cell has no ledger; it is counted as a failure instead
    out = []
    got, used = row.get("budget_limits") or {}, row.get("budget_used") or {}
    for key in MATCHED_KEYS:
        want, have = limits.get(key), got.get(key)
        if want is not None and (have is None or abs(float(have) - float(want)) > _TOLERANCE * max(1.0, want)):
            out.append(f"{name}: {key} limit {have} != {want}")
        if have is not None and float(used.get(key) or 0.0) > float(have) * (1 + _OVERSHOOT):
            out.append(f"{name}: {key} used {used.get(key)} > limit {have}")
    return out


def budget_unused(arms: Mapping[str, Mapping[str, Any]], job_seconds: float | None,
                  share: float = UNUSED_NOTE) -> str | None:
    """A line when the arms left more than `share` of their job-seconds unused on average (None otherwise): the
    study compared fewer jobs than its limit suggests. On a task with a horizon in work no job is started that the
    budget's end cannot carry to its horizon, so a budget that is not a whole number of jobs leaves its last piece."""
    used = [s["compute"]["job_seconds"] for s in arms.values() if s["compute"]["job_seconds"]]
    if not job_seconds or not used:
        return None
    left = 1.0 - sum(used) / len(used) / job_seconds
    if left <= share:
        return None
    return (f"the arms left {100 * left:.0f}% of their {job_seconds:g} job-seconds unused on average (used "
            f"{min(used):.1f}–{max(used):.1f}): the cells' `budget_stop` rows say why (a budget's end that cannot "
            "carry a job to its horizon is not spent); a budget of whole jobs compares more of them")


def analyse(cells: Sequence[Mapping[str, Any]], *, limits: Mapping[str, Mapping[str, float]],
            noise: Mapping[str, Mapping[str, Any] | None], reference: str | None,
            detect: float | None = None, recipes: Mapping[tuple[str, str, int], dict] | None = None,
            recipe_seeds: int = 0) -> dict[str, Any]:
    """`cells`: dicts with task, arm, seed, result, run_dir (Path). Returns the comparison, task by task.
    `detect`: a difference the researcher names; the power brief then says how many seeds it needs.
    `recipes`: per (task, arm, seed) the cell's recipe scores on `recipe_seeds` shared seeds
    (team.studies.recipes); each task then also pairs the arms on them (`recipes`)."""
    tasks: dict[str, Any] = {}
    for task in dict.fromkeys(c["task"] for c in cells):
        mine = [c for c in cells if c["task"] == task]
        arms: dict[str, dict[int, dict]] = {}
        for c in mine:
            arms.setdefault(c["arm"], {})[c["seed"]] = cell_row(c["result"], Path(c["run_dir"]))
        floor = noise.get(task)
        noise_sd = (floor or {}).get("test", {}).get("sd")
        summaries = {a: _arm_summary(s, [c["result"] for c in mine if c["arm"] == a]) for a, s in arms.items()}
        paired, brief = _paired(arms, reference, noise_sd), _noise_brief(floor)
        power = _power(paired, arms, noise_sd, detect, (floor or {}).get("test", {}).get("n"))
        for diff in paired.values():
            diff["verdict"] = tie_text(diff, power["mde"], (brief or {}).get("tie_threshold"))
        tasks[task] = {"noise": brief, "mde": power["mde"], "power": power,
                       "arms": {a: {**summaries[a], "seeds": arms[a]} for a in arms},
                       "paired": paired, "budget": check_budgets(arms, limits[task]),
                       "warnings": compute_warnings(summaries),
                       "unused": budget_unused(summaries, limits[task].get("job_seconds")),
                       "fallback": check_fallbacks(arms)}
        if recipes is not None:
            tasks[task]["recipes"] = recipe_comparison(
                {c["arm"]: {} for c in mine} | _by_arm(task, recipes), reference, floor, recipe_seeds, detect)
    return {"reference_arm": reference, "tasks": tasks}


def _by_arm(task: str, recipes: Mapping[tuple[str, str, int], dict]) -> dict[str, dict[int, dict]]:
    arms: dict[str, dict[int, dict]] = {}
    for (name, arm, seed), row in recipes.items():
        if name == task:
            arms.setdefault(arm, {})[seed] = row
    return arms


def recipe_comparison(arms: Mapping[str, Mapping[int, dict]], reference: str | None,
                      floor: Mapping[str, Any] | None, seeds: int, detect: float | None = None) -> dict[str, Any]:
    """The arms paired on their cells' recipe scores (each the mean of `seeds` shared training seeds). The plan's
    paired sd is √2 × the noise floor's test sd / √seeds: a recipe score averages that many draws of the seed."""
    import math

    floor_sd = (floor or {}).get("test", {}).get("sd")
    noise_sd = None if floor_sd is None or not seeds else floor_sd / math.sqrt(seeds)
    rows = {arm: {s: {"test_score": r["score"]} for s, r in cells.items()} for arm, cells in arms.items()}
    paired = _paired(rows, reference, noise_sd)
    power = _power(paired, rows, noise_sd, detect, (floor or {}).get("test", {}).get("n"))
    if noise_sd is not None:
        power["basis"] = f"√2 × noise-floor test sd {floor_sd:.4g} / √{seeds} (a recipe score is the mean of {seeds} seeds)"
    for arm, diff in paired.items():
        same = all(arms[arm][s]["recipe"] is not None and arms[arm][s]["recipe"] == arms[reference][s]["recipe"]
                   for s in diff["seeds"])
        diff["verdict"] = "the same recipe in every pair: nothing to tell apart" if same else \
            tie_text(diff, power["mde"], None if noise_sd is None else 2 * noise_sd)
    summaries = {arm: _interval(summarize([r["score"] for _, r in sorted(cells.items())])) if cells else None
                 for arm, cells in arms.items()}
    return {"seeds": seeds, "noise_sd": noise_sd, "mde": power["mde"], "power": power, "paired": paired,
            "arms": {arm: {**(summaries[arm] or {}), "cells": dict(sorted(cells.items())),
                           "distinct": len({r["recipe"] for r in cells.values() if r["recipe"]}),
                           "unscored": sum(r["recipe"] is None for r in cells.values())}
                     for arm, cells in arms.items()}}


def check_fallbacks(arms: Mapping[str, Mapping[int, dict]], threshold: float = FALLBACK_FLAG) -> dict[str, Any]:
    """Cells whose LLM decisions fell back to the scripted policy more than `threshold`: there the arm
    measured its scripted fallback, not its LLM."""
    flagged = [f"{arm} s{seed}: {row['fallback_share']:.0%} of its LLM decisions fell back"
               for arm, seeds in arms.items() for seed, row in sorted(seeds.items())
               if row.get("fallback_share") is not None and row["fallback_share"] > threshold]
    return {"threshold": threshold, "flagged": flagged}


def _noise_brief(floor: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not floor:
        return None
    return {"test_sd": floor["test"].get("sd"), "test_mean": floor["test"].get("mean"),
            "dev_sd": (floor.get("dev") or {}).get("sd"), "runs": floor["test"].get("n"),
            "tie_threshold": 2 * floor["test"]["sd"] if floor["test"].get("sd") is not None else None,
            "source": floor.get("source")}
