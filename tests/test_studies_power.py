"""Power before and after a comparison: the minimum detectable difference and the seeds needed, checked
against published sample sizes for the paired t test, and simulated where no table exists."""

import math

import numpy as np
import pytest

from team.studies.power import mde, paired_sd, power, power_brief, sd_interval, seeds_needed
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
