"""The comparison statistics on synthetic inputs with known answers: interval coverage (BCa bootstrap and
Student t), paired differences with their p-values, the fallbacks where scipy refuses, ties below the noise
floor, failures counted (never dropped)."""

import numpy as np
import pytest

from team.studies.stats import (
    Interval,
    bootstrap_ci,
    call_difference,
    cell_score,
    count_failures,
    dev_test_gap,
    failure_reason,
    paired_difference,
    paired_p_values,
    summarize,
    t_interval,
)


def test_bca_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(123)
    reps, hits = 400, 0
    for rep in range(reps):
        sample = rng.normal(0.7, 0.05, size=40)
        interval = bootstrap_ci(sample, resamples=2000, seed=rep)
        hits += interval.contains(0.7)
        assert interval.method == "BCa"
    assert 0.92 <= hits / reps <= 0.98, hits / reps


def test_bca_interval_covers_a_skewed_mean_with_failures_at_20_seeds():
    """15% of runs fail and score the baseline: the shape real comparisons have (benchmarks/bench_compare.py)."""
    rng = np.random.default_rng(7)
    truth, reps, hits = 0.15 * 0.05 + 0.85 * 0.8, 400, 0
    for rep in range(reps):
        sample = np.where(rng.random(20) < 0.15, 0.05, rng.normal(0.8, 0.04, size=20))
        hits += bootstrap_ci(sample, resamples=2000, seed=rep).contains(truth)
    assert 0.88 <= hits / reps <= 0.98, hits / reps


def test_t_interval_covers_the_true_mean_about_95_percent_of_the_time_with_5_seeds():
    rng = np.random.default_rng(11)
    reps = 2000
    hits = sum(t_interval(rng.normal(0.7, 0.05, size=5)).contains(0.7) for _ in range(reps))
    assert 0.935 <= hits / reps <= 0.965, hits / reps


@pytest.mark.parametrize("df, quantile", [(1, 12.7062), (4, 2.7764), (30, 2.0423), (100, 1.9840)])
def test_t_interval_uses_the_t_quantile_for_any_number_of_seeds(df, quantile):
    values = np.linspace(0.0, 1.0, df + 1)
    t = t_interval(values)
    half = quantile * np.std(values, ddof=1) / np.sqrt(df + 1)
    assert t.high - values.mean() == pytest.approx(half, rel=1e-4)


def test_bootstrap_is_reproducible_and_brackets_the_mean():
    values = [0.61, 0.74, 0.70, 0.66, 0.80]
    first, second = bootstrap_ci(values), bootstrap_ci(values)
    assert first == second
    assert first.low < np.mean(values) < first.high
    assert min(values) <= first.low and first.high <= max(values)


def test_t_interval_matches_the_textbook_and_is_wider_than_the_bootstrap_with_few_seeds():
    values = [0.61, 0.74, 0.70, 0.66, 0.80]
    t = t_interval(values)
    half = 2.776445 * np.std(values, ddof=1) / np.sqrt(5)
    assert (t.low, t.high) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
    boot = bootstrap_ci(values)
    assert t.low < boot.low and boot.high < t.high
    assert t_interval([0.5]) is None


def test_one_seed_never_makes_a_call():
    assert paired_difference({0: 0.9}, {0: 0.1}).call == "tie"


def test_a_difference_the_t_interval_cannot_separate_from_zero_is_a_tie():
    diff = paired_difference({0: 0.30, 1: 0.31, 2: 0.70}, {0: 0.2, 1: 0.2, 2: 0.2})
    assert diff.ci.low > 0 and diff.ci_t.low < 0
    assert diff.call == "tie" and "t CI" in diff.reason


def test_summary_of_one_value_is_that_value():
    s = summarize([0.5])
    assert (s.mean, s.ci, s.n, s.sd) == (0.5, Interval(0.5, 0.5), 1, 0.0)
    assert s.ci.method == "point" and s.ci_t is None


def test_where_scipy_refuses_bca_the_fallback_is_named_on_the_interval():
    same = bootstrap_ci([0.3, 0.3, 0.3, 0.3])  # scipy's BCa returns NaN here
    assert (same.low, same.high, same.method) == (0.3, 0.3, "point")
    two = bootstrap_ci([0.2, 0.6])  # BCa's jackknife from two points is meaningless
    assert two.method == "percentile" and 0.2 <= two.low < 0.4 < two.high <= 0.6
    lumpy = bootstrap_ci([0.0, 0.0, 0.0, 0.0, 1.0])
    assert lumpy.method in ("BCa", "percentile") and np.isfinite([lumpy.low, lumpy.high]).all()


def test_paired_p_values_agree_with_the_t_interval_and_the_exact_wilcoxon():
    rng = np.random.default_rng(3)
    for _ in range(50):
        diffs = rng.normal(0.05, 0.1, size=6)
        p_t, _ = paired_p_values(diffs)
        assert (p_t < 0.05) == (not t_interval(diffs).contains(0.0))
    # five seeds, all in one direction: the exact signed-rank test cannot go below 2/32
    assert paired_p_values([0.1, 0.2, 0.05, 0.3, 0.15])[1] == pytest.approx(2 / 32)
    assert paired_p_values([0.1, 0.1, 0.1]) == (0.0, 0.0)  # no spread: the limit of both tests
    assert paired_p_values([0.0, 0.0, 0.0]) == (1.0, 1.0)
    assert paired_p_values([0.4]) == (None, None)


def test_nan_and_empty_inputs_are_refused():
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="baseline"):
        summarize([0.5, float("nan")])


def test_constant_shift_is_recovered_exactly_by_pairing():
    rng = np.random.default_rng(5)
    solo = {s: float(v) for s, v in enumerate(rng.uniform(0.2, 0.9, size=8))}  # big seed-to-seed spread
    team = {s: v + 0.1 for s, v in solo.items()}
    diff = paired_difference(team, solo, noise_sd=0.02)
    assert diff.mean == pytest.approx(0.1) and diff.p_t == 0.0 and diff.sd == pytest.approx(0.0, abs=1e-12)
    assert diff.ci.low == pytest.approx(0.1) and diff.ci.high == pytest.approx(0.1)
    assert diff.call == "win"
    assert paired_difference(solo, team, noise_sd=0.02).call == "loss"


def test_a_paired_difference_reports_its_spread_and_both_p_values():
    diff = paired_difference({0: 0.6, 1: 0.7, 2: 0.55, 3: 0.9}, {0: 0.5, 1: 0.5, 2: 0.5, 3: 0.6})
    assert diff.sd == pytest.approx(np.std([0.1, 0.2, 0.05, 0.3], ddof=1))
    assert diff.p_t == pytest.approx(0.0609, abs=5e-4)  # t = 2.931 on 3 df
    assert diff.ci_t.contains(0.0) and diff.call == "tie"
    assert diff.p_wilcoxon == pytest.approx(2 / 16)  # exact: all four in one direction
    assert diff.ci.method == "BCa" and diff.ci_t.method == "t"


def test_pairing_uses_only_shared_seeds():
    diff = paired_difference({0: 0.5, 1: 0.6, 2: 0.9}, {1: 0.5, 2: 0.5, 3: 0.1})
    assert diff.seeds == (1, 2)
    assert diff.diffs == pytest.approx((0.1, 0.4))
    with pytest.raises(ValueError):
        paired_difference({0: 0.5}, {1: 0.5})


def test_a_consistent_difference_below_the_noise_floor_is_a_tie():
    solo = {s: 0.5 + 0.01 * s for s in range(5)}
    team = {s: v + 0.03 for s, v in solo.items()}  # consistent, but under 2σ = 0.04
    diff = paired_difference(team, solo, noise_sd=0.02)
    assert diff.call == "tie" and "noise floor" in diff.reason
    assert paired_difference(team, solo, noise_sd=0.01).call == "win"  # 2σ = 0.02 < 0.03


def test_an_interval_that_includes_zero_is_a_tie_even_above_the_noise_floor():
    call, reason = call_difference(0.1, Interval(-0.05, 0.25), noise_sd=0.01)
    assert call == "tie" and "includes 0" in reason
    assert call_difference(0.1, Interval(0.02, 0.2), noise_sd=None)[0] == "win"


def test_dev_test_gap_skips_runs_without_a_dev_score():
    gap = dev_test_gap([0.9, None, 0.8], [0.85, 0.3, 0.7])
    assert gap.n == 2 and gap.mean == pytest.approx(0.075)
    assert dev_test_gap([None], [0.3]) is None


def test_failures_score_the_baseline_and_are_counted_not_dropped():
    ok = {"baseline_score": 0.05, "test_score": 0.8, "flags": [], "final_members": ["j1"]}
    flagged = {"baseline_score": 0.05, "test_score": 0.05, "flags": [{"flag": "decoy", "reason": "weights"}],
               "final_members": ["j2"]}
    empty = {"baseline_score": 0.05, "test_score": 0.05, "flags": [], "final_members": []}
    crashed = {"baseline_score": 0.05, "test_score": None, "flags": [], "error": "OSError: disk full"}
    results = [ok, flagged, empty, crashed]
    assert [cell_score(r) for r in results] == [0.8, 0.05, 0.05, 0.05]
    assert failure_reason(ok) is None
    assert failure_reason(flagged) == "flagged: decoy"
    assert failure_reason(empty) == "no final model"
    assert failure_reason(crashed).startswith("crashed")
    assert count_failures(results) == {"runs": 4, "failures": 3, "flagged": 1, "crashed": 1}
    assert summarize([cell_score(r) for r in results]).n == 4
