"""Honest statistics for team-vs-solo comparisons, from scipy.stats: BCa bootstrap and Student t
intervals, paired differences by seed with the paired t and Wilcoxon signed-rank p-values, a tie rule
against the measured noise floor, the dev–test gap, and failure counts (failed or flagged runs keep the
verifier's baseline score; they are never dropped).

Where scipy refuses (BCa needs 2+ distinct values, and is meaningless from two points), the fallback is
fixed and written on the interval (`Interval.method`): one value or all values equal → the point itself
("point": every resample has that mean); two values, or a BCa that scipy cannot compute → the percentile
bootstrap ("percentile").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

__all__ = ["Interval", "Summary", "PairedDifference", "bootstrap_ci", "t_interval", "summarize", "paired_difference",
           "paired_p_values", "call_difference", "dev_test_gap", "cell_score", "failure_reason", "count_failures"]

RESAMPLES = 10_000
LEVEL = 0.95
TIE_SIGMAS = 2.0
_EQUAL = 1e-12  # values closer than this (relative to their size) count as equal: rounding, not spread


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str = field(default="BCa", compare=False)  # BCa | percentile | point | t

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Summary:
    mean: float
    ci: Interval
    n: int
    sd: float  # sample standard deviation (ddof=1; 0 for one value)
    ci_t: Interval | None = None  # Student t interval (n >= 2): wider, and closer to 95% with few seeds


@dataclass(frozen=True)
class PairedDifference:
    seeds: tuple[int, ...]
    diffs: tuple[float, ...]  # arm − reference, per seed
    mean: float
    ci: Interval
    call: str  # win | loss | tie
    reason: str
    ci_t: Interval | None = None
    sd: float | None = None  # sd of the paired differences (ddof=1; None under 2 seeds)
    p_t: float | None = None  # paired t test, two-sided (None under 2 seeds)
    p_wilcoxon: float | None = None  # Wilcoxon signed-rank, two-sided, exact for small n (None under 2 seeds)


def _values(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        raise ValueError("no values to summarise")
    if not np.all(np.isfinite(array)):
        raise ValueError("values must be finite (a failed run scores the baseline, not NaN)")
    return array


def _all_equal(array: np.ndarray) -> bool:
    return float(np.ptp(array)) <= _EQUAL * max(1.0, float(np.max(np.abs(array))))


def bootstrap_ci(values: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES,
                 seed: int = 0) -> Interval:
    """BCa bootstrap interval of the mean (scipy.stats.bootstrap, fixed seed: the same input, the same
    interval); the documented fallbacks of the module docstring where BCa cannot be had."""
    array = _values(values)
    if array.size == 1 or _all_equal(array):
        return Interval(float(array.mean()), float(array.mean()), "point")
    method = "BCa" if array.size >= 3 else "percentile"
    low, high = _scipy_bootstrap(array, method, level, resamples, seed)
    if not (np.isfinite(low) and np.isfinite(high)):
        method = "percentile"
        low, high = _scipy_bootstrap(array, method, level, resamples, seed)
    return Interval(float(low), float(high), method)


def _scipy_bootstrap(array: np.ndarray, method: str, level: float, resamples: int, seed: int) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate BCa warns and returns NaN: handled by the caller
        result = sps.bootstrap((array,), np.mean, method=method, confidence_level=level, n_resamples=resamples,
                               vectorized=True, random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def t_interval(values: Sequence[float], *, level: float = LEVEL) -> Interval | None:
    """mean ± t(1−α/2, n−1)·sd/√n (scipy's t quantile); None for a single value (no spread to scale by)."""
    array = _values(values)
    n = array.size
    if n < 2:
        return None
    half = float(sps.t.ppf(0.5 + level / 2.0, n - 1)) * float(array.std(ddof=1)) / np.sqrt(n)
    return Interval(float(array.mean()) - half, float(array.mean()) + half, "t")


def paired_p_values(diffs: Sequence[float]) -> tuple[float | None, float | None]:
    """(paired t p, Wilcoxon signed-rank p), both two-sided, for differences against 0. Under 2 values:
    (None, None). Differences that are all equal have no spread: p = 0 when they are not 0, else 1 (the
    limit of both tests; scipy returns NaN there). Wilcoxon drops zero differences, as scipy's default does."""
    array = _values(diffs)
    if array.size < 2:
        return None, None
    if _all_equal(array):
        p = 1.0 if abs(float(array.mean())) <= _EQUAL else 0.0
        return p, p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_t = float(sps.ttest_1samp(array, 0.0).pvalue)
        nonzero = array[np.abs(array) > _EQUAL]
        p_w = float(sps.wilcoxon(nonzero).pvalue) if nonzero.size else 1.0
    return p_t, p_w


def summarize(values: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> Summary:
    array = _values(values)
    sd = float(array.std(ddof=1)) if array.size > 1 else 0.0
    ci = bootstrap_ci(array, level=level, resamples=resamples, seed=seed)
    return Summary(float(array.mean()), ci, int(array.size), sd, t_interval(array, level=level))


def call_difference(mean: float, ci: Interval, noise_sd: float | None, ci_t: Interval | None = None,
                    n: int = 2) -> tuple[str, str]:
    """win/loss only with 2+ seeds, a difference that clears 2σ of the noise floor, AND intervals that
    exclude zero (the bootstrap one, and the t one when given: with 5 seeds a bootstrap interval covers
    well under 95%, so the wider t interval — the paired t test at α = 0.05 — guards against calling noise
    a win)."""
    if n < 2:
        return "tie", "fewer than 2 paired seeds cannot show a difference"
    if noise_sd is not None and abs(mean) < TIE_SIGMAS * noise_sd:
        return "tie", f"|diff| {abs(mean):.4f} < {TIE_SIGMAS:g}σ noise floor ({TIE_SIGMAS * noise_sd:.4f})"
    for name, interval in (("bootstrap", ci), ("t", ci_t)):
        if interval is not None and interval.contains(0.0):
            return "tie", f"95% {name} CI [{interval.low:.4f}, {interval.high:.4f}] includes 0"
    floor = "no noise floor measured" if noise_sd is None else f"clears {TIE_SIGMAS:g}σ = {TIE_SIGMAS * noise_sd:.4f}"
    return ("win" if mean > 0 else "loss"), f"95% CI [{ci.low:.4f}, {ci.high:.4f}] excludes 0; {floor}"


def paired_difference(arm: Mapping[int, float], reference: Mapping[int, float], *, noise_sd: float | None = None,
                      resamples: int = RESAMPLES, seed: int = 0) -> PairedDifference:
    """Arm − reference on the seeds both have (pairing removes the seed-to-seed variance they share)."""
    seeds = tuple(sorted(set(arm) & set(reference)))
    if not seeds:
        raise ValueError("the arm and the reference share no seed")
    diffs = tuple(float(arm[s]) - float(reference[s]) for s in seeds)
    ci, ci_t = bootstrap_ci(diffs, resamples=resamples, seed=seed), t_interval(diffs)
    mean = float(np.mean(diffs))
    call, reason = call_difference(mean, ci, noise_sd, ci_t, len(diffs))
    sd = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else None
    p_t, p_w = paired_p_values(diffs)
    return PairedDifference(seeds, diffs, mean, ci, call, reason, ci_t, sd, p_t, p_w)


def dev_test_gap(dev: Sequence[float | None], test: Sequence[float], *, resamples: int = RESAMPLES,
                 seed: int = 0) -> Summary | None:
    """Mean of dev − test over the runs that have a dev score (a positive gap: dev overstated the model)."""
    gaps = [float(d) - float(t) for d, t in zip(dev, test, strict=True) if d is not None]
    return summarize(gaps, resamples=resamples, seed=seed) if gaps else None


def cell_score(result: Mapping[str, Any]) -> float:
    """The verifier's test score; the baseline when there is none (a failure scores the baseline)."""
    score = result.get("test_score")
    return float(result["baseline_score"] if score is None else score)


def failure_reason(result: Mapping[str, Any]) -> str | None:
    """Why a run counts as a failure (crashed, flagged, or no final model), or None."""
    if result.get("error"):
        return f"crashed: {result['error']}"
    flags = [f for f in result.get("flags") or [] if not (isinstance(f, Mapping) and f.get("advisory"))]
    if flags:  # an advisory flag (e.g. a PostTrainBench folder's unsealed split) changes no score
        return "flagged: " + "; ".join(f.get("flag", str(f)) if isinstance(f, Mapping) else str(f) for f in flags)
    if result.get("test_score") is None or not result.get("final_members", True):
        return "no final model"
    return None


def count_failures(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    reasons = [failure_reason(r) for r in results]
    return {"runs": len(results), "failures": sum(r is not None for r in reasons),
            "flagged": sum(r is not None and r.startswith("flagged") for r in reasons),
            "crashed": sum(r is not None and r.startswith("crashed") for r in reasons)}
