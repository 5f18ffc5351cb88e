"""Power before and after a comparison: the minimum detectable difference and the seeds needed, checked
against published sample sizes for the paired t test, and simulated where no table exists."""

import math

import numpy as np
import pytest

from team.studies.power import mde, paired_sd, power, power_brief, seeds_needed
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
