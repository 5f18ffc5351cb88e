"""Honest statistics for team-vs-solo comparisons: percentile-bootstrap confidence intervals, paired
differences by seed, a tie rule against the measured noise floor, the dev–test gap, and failure counts
(failed or flagged runs keep the verifier's baseline score; they are never dropped). Pure numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Interval", "Summary", "PairedDifference", "bootstrap_ci", "t_interval", "summarize", "paired_difference",
           "call_difference", "dev_test_gap", "cell_score", "failure_reason", "count_failures"]

RESAMPLES = 10_000
LEVEL = 0.95
TIE_SIGMAS = 2.0
# Student t 0.975 quantiles for 1..30 degrees of freedom (numpy has no t distribution)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

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


def _values(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        raise ValueError("no values to summarise")
    if not np.all(np.isfinite(array)):
        raise ValueError("values must be finite (a failed run scores the baseline, not NaN)")
    return array


def bootstrap_ci(values: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES,
                 seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean, from a fixed-seed RNG (the same input, the same interval)."""
    array = _values(values)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // array.size)  # bounded memory for long inputs
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        means[start:stop] = array[rng.integers(0, array.size, size=(stop - start, array.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(low), float(high))


def t_interval(values: Sequence[float]) -> Interval | None:
    """mean ± t(0.975, n−1)·sd/√n; None for a single value (no spread to scale by)."""
    array = _values(values)
    n = array.size
    if n < 2:
        return None
    df = n - 1
    t = _T975[df - 1] if df <= len(_T975) else 1.95996 + 2.372 / df  # Cornish-Fisher beyond 30
    half = t * float(array.std(ddof=1)) / np.sqrt(n)
    return Interval(float(array.mean()) - half, float(array.mean()) + half)


def summarize(values: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> Summary:
    array = _values(values)
    sd = float(array.std(ddof=1)) if array.size > 1 else 0.0
    ci = bootstrap_ci(array, level=level, resamples=resamples, seed=seed)
    return Summary(float(array.mean()), ci, int(array.size), sd, t_interval(array) if level == LEVEL else None)


def call_difference(mean: float, ci: Interval, noise_sd: float | None, ci_t: Interval | None = None,
                    n: int = 2) -> tuple[str, str]:
    """win/loss only with 2+ seeds, a difference that clears 2σ of the noise floor, AND intervals that
    exclude zero (the bootstrap one, and the t one when given: with 5 seeds the percentile bootstrap
    covers only ~84%, so the wider t interval guards against calling noise a win)."""
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
    return PairedDifference(seeds, diffs, mean, ci, call, reason, ci_t)


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
    flags = result.get("flags") or []
    if flags:
        return "flagged: " + "; ".join(f.get("flag", str(f)) if isinstance(f, Mapping) else str(f) for f in flags)
    if result.get("test_score") is None or not result.get("final_members", True):
        return "no final model"
    return None


def count_failures(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    reasons = [failure_reason(r) for r in results]
    return {"runs": len(results), "failures": sum(r is not None for r in reasons),
            "flagged": sum(r is not None and r.startswith("flagged") for r in reasons),
            "crashed": sum(r is not None and r.startswith("crashed") for r in reasons)}
