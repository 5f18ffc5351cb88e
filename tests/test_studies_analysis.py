"""Arm parsing, budget strings, and the comparison built from finished cells (written as real run
directories with events.jsonl and result.json): paired calls, failures kept, budget mismatches caught,
and the three output files."""

import json
import os
import subprocess
import sys

import pytest

from sandbox.errors import ConfigError
from team.engine.records.events import EventLog
from team.engine.records.ledger import parse_budget
from team.studies.analysis import analyse, best_curve
from team.studies.arms import ArmSpec, budget_text, parse_arm
from team.studies.compare import reference_arm
from team.views.comparison import write_html, write_markdown

LIMITS = {"wall": 25.0, "job_seconds": 10.0, "tokens": 1e6, "usd": 2.0}


@pytest.mark.parametrize("text, want", [
    ("solo", ArmSpec("solo", "team", "solo")),
    ("team=research", ArmSpec("team", "team", "research")),
    ("mine=teams/x.yaml", ArmSpec("mine", "team", "teams/x.yaml")),
    ("best-of-k", ArmSpec("best-of-3", "best_of_k", "solo", 3)),
    ("best-of-k=4", ArmSpec("best-of-4", "best_of_k", "solo", 4)),
    ("random", ArmSpec("random", "team", "random")),
    ("optuna", ArmSpec("optuna", "team", "tpe")),
    ("tpe", ArmSpec("tpe", "team", "tpe")),
    ("parallel=solo-parallel", ArmSpec("parallel", "team", "solo-parallel")),
])
def test_arms_parse(text, want):
    assert parse_arm(text) == want


@pytest.mark.parametrize("text", ["best-of-k=0", "best-of-k=x", "random=3", "=solo", "./t.yaml"])
def test_bad_arms_are_config_errors(text):
    with pytest.raises(ConfigError):
        parse_arm(text)


def test_reference_arm_is_solo():
    arms = (parse_arm("team=research"), parse_arm("me=solo"), parse_arm("random"))
    assert reference_arm(arms) == "me"
    assert reference_arm((parse_arm("solo"), parse_arm("me=solo"))) == "solo"
    assert reference_arm((parse_arm("random"),)) is None


def test_budget_text_round_trips_and_divides_every_limit():
    assert parse_budget(budget_text(LIMITS), {"model_calls": 5}) == {**LIMITS, "model_calls": 5}
    halves = parse_budget(budget_text(LIMITS, 2), {})
    assert halves == pytest.approx({k: v / 2 for k, v in LIMITS.items()})


def _cell(root, arm, seed, test, dev, *, job_s=9.0, limits=LIMITS, flags=(), jobs=((4.0, 0.5), (5.0, None)),
          decisions=None, clock="cpu"):
    run_dir = root / arm / f"s{seed}"
    events = EventLog(run_dir / "events.jsonl", run=run_dir.name)
    for seconds, score in jobs:
        events.emit("job_finished", key=f"{seconds}-{score}", status="ok" if score is not None else "failed",
                    dev_accuracy=score, device_seconds=seconds)
    events.close()
    result = {"baseline_score": 0.05, "test_score": test, "dev_score": dev, "flags": list(flags),
              "final_members": ["j"] if dev is not None else [], "budget_limits": dict(limits),
              "budget_used": {"job_seconds": job_s, "tokens": 0.0, "usd": 0.0, "wall": 20.0},
              "decisions": decisions or {}, "clock": clock}
    (run_dir / "result.json").write_text(json.dumps(result))
    return {"task": "add3", "arm": arm, "seed": seed, "result": result, "run_dir": run_dir}


def test_best_curve_accumulates_job_seconds_and_keeps_the_best(tmp_path):
    cell = _cell(tmp_path, "solo", 0, 0.8, 0.7, jobs=((4.0, 0.5), (5.0, None), (3.0, 0.4), (2.0, 0.9)))
    assert best_curve(cell["run_dir"]) == [(4.0, 0.5), (9.0, 0.5), (12.0, 0.5), (14.0, 0.9)]


def _comparison(tmp_path, noise_sd=0.01, team_limits=LIMITS, detect=None, team_clock="cpu", job_s=9.0):
    cells = [_cell(tmp_path, "solo", s, 0.5 + 0.1 * s, 0.55 + 0.1 * s, job_s=job_s) for s in range(3)]
    cells += [_cell(tmp_path, "team", s, 0.7 + 0.1 * s, 0.8, limits=team_limits, clock=team_clock, job_s=job_s)
              for s in range(3)]
    cells += [_cell(tmp_path, "random", 0, 0.05, None, job_s=job_s),
              _cell(tmp_path, "random", 1, 0.05, 0.6, flags=[{"flag": "decoy", "reason": "weights"}], job_s=job_s),
              _cell(tmp_path, "random", 2, 0.6, 0.6, job_s=job_s)]
    noise = {"add3": {"test": {"sd": noise_sd, "mean": 0.6, "n": 3}, "dev": {"sd": 0.01}}}
    return analyse(cells, limits={"add3": LIMITS}, noise=noise, reference="solo", detect=detect)


def test_analysis_pairs_by_seed_calls_and_keeps_failures(tmp_path):
    task = _comparison(tmp_path)["tasks"]["add3"]
    team = task["paired"]["team"]
    assert team["mean"] == pytest.approx(0.2) and team["call"] == "win" and team["against"] == "solo"
    assert task["arms"]["team"]["mean"] == pytest.approx(0.8)
    assert task["arms"]["team"]["ci"]["low"] <= 0.8 <= task["arms"]["team"]["ci"]["high"]
    random = task["arms"]["random"]
    assert random["n"] == 3 and random["mean"] == pytest.approx((0.05 + 0.05 + 0.6) / 3)
    assert random["failures"] == {"runs": 3, "failures": 2, "flagged": 1, "crashed": 0}
    assert task["arms"]["solo"]["dev_test_gap"]["mean"] == pytest.approx(0.05)
    assert task["budget"]["matched"] is True
    assert "solo" not in task["paired"]


def test_a_difference_under_the_noise_floor_is_called_a_tie(tmp_path):
    task = _comparison(tmp_path, noise_sd=0.15)["tasks"]["add3"]
    assert task["paired"]["team"]["call"] == "tie"
    assert task["noise"]["tie_threshold"] == pytest.approx(0.3)


def test_every_comparison_states_its_mde_and_a_tie_says_what_could_not_be_seen(tmp_path):
    from team.studies.power import mde

    task = _comparison(tmp_path, noise_sd=0.15, detect=0.1)["tasks"]["add3"]
    want = mde(2 ** 0.5 * 0.15, 3)  # three paired seeds, √2 × the noise floor
    assert task["mde"] == pytest.approx(want, abs=1e-6) and task["power"]["seeds"] == 3
    assert task["power"]["seeds_for_detect"] > 3
    team = task["paired"]["team"]
    shown = max(want, mde(team["sd"], 3))  # the plan's MDE, or the arm's own when it varies more
    assert team["verdict"].startswith(f"tie: a difference under {shown:.3f} could go unseen (MDE at power 0.8")
    assert task["power"]["arms"]["team"]["diff_sd"] == pytest.approx(team["sd"])
    assert team["p_t"] is not None and team["p_wilcoxon"] is not None


def test_without_a_noise_floor_a_tie_uses_the_arms_observed_spread(tmp_path):
    from team.studies.analysis import tie_text
    from team.studies.power import mde

    diff = {"call": "tie", "sd": 0.2, "seeds": [0, 1, 2, 3, 4]}
    assert tie_text(diff, None, None) == (f"tie: a difference under {mde(0.2, 5):.3f} could go unseen "
                                          "(MDE at power 0.8, from this arm's paired spread)")
    assert f"under {mde(0.2, 5):.3f}" in tie_text(diff, 0.05, None), "a plan smaller than the arm's spread hides it"
    assert "under 0.900 could go unseen (MDE at power 0.8, from the noise floor)" in tie_text(diff, 0.9, None)
    assert tie_text({"call": "tie", "sd": None, "seeds": [0]}, None, None).startswith("tie: too few seeds")
    assert "the 2σ rule ties anything under 0.500" in tie_text(diff, 0.3, 0.5)
    assert tie_text({"call": "win"}, 0.3, 0.5) == "win"


def test_a_study_that_left_much_of_its_budget_unused_says_so(tmp_path):
    # the gate on a task with a horizon: 3 jobs of ~85 s and the last ~90 of 360 unspent (the study of 2026-12-03)
    assert _comparison(tmp_path / "spent")["tasks"]["add3"]["unused"] is None  # 9 of 10 used
    task = _comparison(tmp_path / "left", job_s=7.5)["tasks"]["add3"]
    assert task["unused"].startswith("the arms left 25% of their 10 job-seconds unused on average (used 7.5–7.5)")
    comparison = {"arms": {a: {"what": a} for a in ("solo", "team", "random")}, "seeds": 3, "budget": "25s",
                  "executor": "local", "tie_rule": "tie when ...", **_comparison(tmp_path / "cells", job_s=7.5)}
    md = write_markdown(json.loads(json.dumps(comparison)), tmp_path / "comparison.md").read_text()
    assert "- **budget left unused**: the arms left 25%" in md


def test_unmatched_budgets_are_reported(tmp_path):
    task = _comparison(tmp_path, team_limits={**LIMITS, "job_seconds": 20.0})["tasks"]["add3"]
    assert task["budget"]["matched"] is False
    assert any("team s0: job_seconds limit 20.0 != 10.0" in p for p in task["budget"]["problems"])


def test_cells_on_different_clocks_are_not_matched_compute(tmp_path):
    assert _comparison(tmp_path / "same")["tasks"]["add3"]["budget"] == {
        "matched": True, "limits": LIMITS, "problems": [], "clock": "cpu"}
    task = _comparison(tmp_path / "mixed", team_clock="wall")["tasks"]["add3"]
    assert task["budget"]["matched"] is False and task["budget"]["clock"] == "cpu/wall"
    assert "cells counted job-seconds on different clocks (cpu, wall)" in task["budget"]["problems"]


def test_markdown_and_html_show_the_table_and_plots(tmp_path):
    comparison = {"arms": {"solo": {"what": "team solo"}, "team": {"what": "team research"},
                           "random": {"what": "random search"}},
                  "seeds": 3, "budget": "25s", "executor": "local", "tie_rule": "tie when ...",
                  **_comparison(tmp_path / "cells")}
    comparison = json.loads(json.dumps(comparison))  # as read back from comparison.json
    md = write_markdown(comparison, tmp_path / "comparison.md").read_text()
    assert "| team | 0.800 |" in md and "| win |" in md and "2/3 (1 flagged)" in md
    assert "with 3 paired seeds the minimum detectable difference (MDE) is" in md
    assert "the noise floor is 3 runs, so its sd is known only within a 95% interval that puts this MDE between" in md
    assert "random s1: flagged: decoy" in md
    page = write_html(comparison, tmp_path / "comparison.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<table>" in page
    assert "minimum detectable difference (MDE)" in page


def test_a_tie_in_the_report_says_what_difference_could_go_unseen(tmp_path):
    comparison = {"arms": {"solo": {"what": "team solo"}, "team": {"what": "team research"},
                           "random": {"what": "random search"}},
                  "seeds": 3, "budget": "25s", "executor": "local", "tie_rule": "tie when ...",
                  **_comparison(tmp_path / "cells", noise_sd=0.15)}
    comparison = json.loads(json.dumps(comparison))
    verdict = comparison["tasks"]["add3"]["paired"]["team"]["verdict"]
    md = write_markdown(comparison, tmp_path / "comparison.md").read_text()
    assert verdict.startswith("tie: a difference under") and f"| {verdict} |" in md


def test_cli_rejects_bad_arms_with_one_line():
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run([sys.executable, "-m", "team.cli", "compare", "--task", "add3", "--arm", "best-of-k=0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "k must be a positive integer" in proc.stderr


def test_cells_whose_llm_fell_back_past_the_threshold_are_flagged(tmp_path):
    from team.studies.analysis import FALLBACK_FLAG

    def llm(fallback):
        return {"director": {"model": 10 - fallback, "repaired": 0, "fallback": fallback, "scripted": 0}}

    cells = [_cell(tmp_path, "solo", s, 0.5, 0.5) for s in range(2)]
    cells += [_cell(tmp_path, "team", 0, 0.6, 0.6, decisions=llm(1)), _cell(tmp_path, "team", 1, 0.6, 0.6,
                                                                             decisions=llm(6))]
    task = analyse(cells, limits={"add3": LIMITS}, noise={}, reference="solo")["tasks"]["add3"]
    assert task["fallback"] == {"threshold": FALLBACK_FLAG, "flagged": ["team s1: 60% of its LLM decisions fell back"]}
    assert task["arms"]["team"]["fallback_share_mean"] == pytest.approx(0.35)
    assert task["arms"]["solo"]["fallback_share_mean"] is None  # no LLM decided
    comparison = {"arms": {"solo": {"what": "team solo"}, "team": {"what": "team research"}}, "seeds": 2,
                  "budget": "25s", "executor": "local", "tie_rule": "tie when ...", "reference_arm": "solo",
                  "tasks": {"add3": task}}
    md = write_markdown(json.loads(json.dumps(comparison)), tmp_path / "comparison.md").read_text()
    assert "scripted fallback: cells whose LLM decisions fell back more than 20% are flagged — FLAGGED: team s1" in md
    assert "| 35% |" in md
