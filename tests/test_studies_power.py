"""Power before and after a comparison: the minimum detectable difference and the seeds needed, checked
against published sample sizes for the paired t test, and simulated where no table exists."""

import math

import numpy as np
import pytest

from team.studies.power import mde, paired_sd, power, power_brief, sd_interval, seeds_needed, spread_brief
from team.studies.stats import t_interval


@pytest.mark.parametrize("effect, seeds", [(0.5, 34), (0.8, 15), (1.0, 10)])
def test_seeds_needed_match_the_published_paired_t_sample_sizes(effect, seeds):
    # Cohen's d_z, two-sided α = 0.05, power 0.8 (G*Power's "means: difference from constant")
    assert seeds_needed(effect, 1.0) == seeds
    assert seeds_needed(effect * 0.2, 0.2) == seeds  # only the ratio to the sd matters


def test_the_mde_is_the_difference_detected_four_times_in_five():
    d = mde(0.2, 5)
    assert power(d, 0.2, 5) == pytest.approx(0.8, abs=1e-6)
    rng = np.random.default_rng(0)
    reps = 4000
    hits = sum(not t_interval(rng.normal(d, 0.2, size=5)).contains(0.0) for _ in range(reps))
    assert 0.77 <= hits / reps <= 0.83, hits / reps  # what a user running the study would see


def test_more_seeds_see_smaller_differences():
    values = [mde(1.0, n) for n in (2, 3, 5, 10, 20, 50)]
    assert values == sorted(values, reverse=True) and values[-1] < 0.5 < values[2]
    assert power(0.0, 1.0, 5) == pytest.approx(0.05)  # with no difference it rejects at α


def test_degenerate_inputs_have_plain_answers():
    assert mde(None, 5) is None and mde(0.1, 1) is None and mde(0.0, 5) == 0.0
    assert seeds_needed(0.1, None) is None and seeds_needed(0.1, 0.0) == 2
    assert seeds_needed(1e-6, 1.0) is None  # beyond any study of this kind


def test_paired_sd_prefers_the_observed_spread_else_root_two_noise():
    assert paired_sd(0.1) == pytest.approx(math.sqrt(2) * 0.1)
    assert paired_sd(0.1, 0.05) == 0.05 and paired_sd(None) is None


def test_the_brief_gives_the_mde_the_seeds_for_a_named_difference_and_each_arms_own():
    brief = power_brief(0.129, 5, detect=0.1, arms={"team": (0.1, 5), "one": (None, 1)})
    assert brief["mde"] == pytest.approx(mde(math.sqrt(2) * 0.129, 5), abs=1e-6)
    assert brief["seeds_for_detect"] == seeds_needed(0.1, math.sqrt(2) * 0.129) > 5
    assert brief["arms"]["team"]["mde_observed"] == pytest.approx(mde(0.1, 5), abs=1e-6)
    assert brief["arms"]["one"]["mde_observed"] is None
    assert power_brief(None, 5)["mde"] is None


def test_the_noise_floors_own_uncertainty_widens_the_planned_mde_as_its_runs_say():
    rng = np.random.default_rng(1)
    reps, covered = 4000, 0
    for _ in range(reps):  # five noise runs of a recipe whose true sd is 0.04
        low, high = sd_interval(float(np.std(rng.normal(0.8, 0.04, size=5), ddof=1)), 5)
        covered += low <= 0.04 <= high
    assert 0.93 <= covered / reps <= 0.97, covered / reps  # a 95% interval, as a user re-measuring would find
    low, high = sd_interval(0.04, 5)
    assert 0.02 < low < 0.04 < 0.1 < high  # five runs: about 0.6x to 2.9x
    brief = power_brief(0.04, 5, noise_runs=5)
    assert brief["mde_range"] == [pytest.approx(mde(paired_sd(end), 5), abs=1e-6) for end in (low, high)]
    assert brief["mde_range"][0] < brief["mde"] < brief["mde_range"][1]
    wider, narrower = power_brief(0.04, 5, noise_runs=3)["mde_range"], power_brief(0.04, 5, noise_runs=30)["mde_range"]
    assert wider[0] < brief["mde_range"][0] < narrower[0] and wider[1] > brief["mde_range"][1] > narrower[1]
    assert "mde_range" not in power_brief(0.04, 5) and sd_interval(0.04, 1) is None


def _cli(*args, cwd):
    import os
    import subprocess
    import sys

    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "team.cli", "compare", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=cwd)


def test_plan_prints_the_mde_and_the_seeds_needed_and_runs_no_cell(tmp_path):
    import json

    (tmp_path / "noise.json").write_text(json.dumps({"task": "add3", "test": {"sd": 0.129, "mean": 0.6, "n": 3}}))
    proc = _cli("--task", "add3", "--plan", "--noise", "noise.json", "--seeds", "5", "--detect", "0.1",
                "--out", "cmp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "with 5 seeds the minimum detectable difference is 0.307" in proc.stderr
    assert "a difference of 0.1 needs 29 seeds" in proc.stderr
    low, high = (mde(paired_sd(end), 5) for end in sd_interval(0.129, 3))
    assert f"over 3 runs the noise sd is known only within a 95% interval, which puts the MDE between {low:.3f} and " \
           f"{high:.3f}" in proc.stderr
    plan = json.loads(proc.stdout)["plan"]["add3"]
    assert plan["mde"] == pytest.approx(mde(math.sqrt(2) * 0.129, 5), abs=1e-6) and plan["seeds_for_detect"] == 29
    assert not (tmp_path / "cmp" / "cells").exists()


@pytest.mark.parametrize("args, message", [
    (("--plan", "--detect", "0"), "--detect 0: name a difference larger than 0"),
    (("--plan", "--detect", "-0.2", "--noise", "x.json"), "--detect -0.2"),
    (("--plan", "--noise-runs", "1"), "--plan: needs a noise floor"),
    (("--arm", "solo", "--detect", "0"), "--detect 0"),
])
def test_bad_power_requests_are_one_line_and_exit_2(tmp_path, args, message):
    proc = _cli("--task", "add3", "--out", "cmp", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr


def _pilot(path, task="add3"):
    """A comparison.json as `synthteam compare` writes it (only what --pilot reads): two arms with a spread, one
    with a single paired seed (no spread to plan from)."""
    import json

    paired = {"team": {"seeds": list(range(10)), "sd": 0.18, "against": "solo"},
              "tpe": {"seeds": [0, 1, 2, 3, 4], "sd": 0.05, "against": "solo"},
              "one": {"seeds": [0], "sd": None, "against": "solo"}}
    path.write_text(json.dumps({"tasks": {task: {"paired": paired}}}))
    return path.name


def test_a_pilot_plans_from_each_arms_observed_spread_without_a_noise_floor(tmp_path):
    import json

    pilot = _pilot(tmp_path / "earlier.json")
    proc = _cli("--task", "add3", "--arm", "solo", "--plan", "--pilot", pilot, "--seeds", "5", "--detect", "0.05",
                "--out", "cmp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    low, high = (mde(end, 5) for end in sd_interval(0.18, 10))
    assert (f"add3 team vs solo: paired sd 0.1800 over 10 seeds of {pilot}; with 5 seeds the minimum detectable "
            f"difference is {mde(0.18, 5):.3f} (between {low:.3f} and {high:.3f} over that sd's 95% interval); a "
            f"difference of 0.05 needs {seeds_needed(0.05, 0.18)} seeds") in proc.stderr
    assert "add3 tpe vs solo: paired sd 0.0500 over 5 seeds" in proc.stderr and "add3 one" not in proc.stderr
    assert "noise sd" not in proc.stderr  # a pilot alone measures no noise floor: no job ran
    plan = json.loads(proc.stdout)["plan"]["add3"]["pilot"]["arms"]
    assert plan["team"]["seeds_for_detect"] == seeds_needed(0.05, 0.18) > 100 and set(plan) == {"team", "tpe"}
    assert not (tmp_path / "cmp").exists()


def test_a_pilot_beside_a_noise_floor_gives_both_plans(tmp_path):
    import json

    (tmp_path / "noise.json").write_text(json.dumps({"task": "add3", "test": {"sd": 0.04, "mean": 0.6, "n": 5}}))
    proc = _cli("--task", "add3", "--arm", "solo", "--plan", "--noise", "noise.json", "--pilot",
                _pilot(tmp_path / "earlier.json"), "--seeds", "5", "--out", "cmp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"with 5 seeds the minimum detectable difference is {mde(math.sqrt(2) * 0.04, 5):.3f}" in proc.stderr
    assert "add3 team vs solo: paired sd 0.1800 over 10 seeds" in proc.stderr


@pytest.mark.parametrize("make, args, message", [
    (None, ("--plan", "--pilot", "missing.json"), "--pilot missing.json: not a readable comparison.json"),
    ("[1, 2]", ("--plan", "--pilot", "bad.json"), "--pilot bad.json: not a comparison.json"),
    ("{not json", ("--plan", "--pilot", "bad.json"), "--pilot bad.json: not a readable comparison.json"),
    ("other-task", ("--plan", "--pilot", "earlier.json"), "no paired differences for task add3 (it holds reverse)"),
    ("other-task", ("--pilot", "earlier.json"), "--pilot: only with --plan"),
])
def test_a_bad_pilot_is_one_line_and_exit_2(tmp_path, make, args, message):
    if make == "other-task":
        _pilot(tmp_path / "earlier.json", task="reverse")
    elif make is not None:
        (tmp_path / "bad.json").write_text(make)
    proc = _cli("--task", "add3", "--arm", "solo", "--out", "cmp", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr
    assert not (tmp_path / "cmp").exists()


def test_a_spread_brief_brackets_its_mde_and_names_the_seeds_a_difference_needs():
    brief = spread_brief(0.18, 10, 5, detect=0.1)
    assert brief["mde"] == pytest.approx(mde(0.18, 5), abs=1e-6)
    assert brief["mde_range"][0] < brief["mde"] < brief["mde_range"][1]
    assert brief["seeds_for_detect"] == seeds_needed(0.1, 0.18)
    assert spread_brief(0.18, 1, 5)["mde_range"] is None and "detect" not in spread_brief(0.18, 10, 5)
