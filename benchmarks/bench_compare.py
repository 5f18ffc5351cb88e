"""How far to trust the comparison's intervals with few seeds, and what they cost: the real coverage of
the 95% percentile-bootstrap and Student t intervals of a mean for normal and skewed (with failures) scores at
n = 3..30 seeds, and the time per interval. Run by hand: `python benchmarks/bench_compare.py`.
"""

from __future__ import annotations

import time

import numpy as np

from team.studies.stats import bootstrap_ci, t_interval

REPS = 1000
RESAMPLES = 2000


def _normal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, float]:
    return rng.normal(0.7, 0.05, size=n), 0.7


def _with_failures(rng: np.random.Generator, n: int) -> tuple[np.ndarray, float]:
    """A run fails 15% of the time and then scores the baseline 0.05 — the shape real comparisons have."""
    fail = rng.random(n) < 0.15
    return np.where(fail, 0.05, rng.normal(0.8, 0.04, size=n)), 0.15 * 0.05 + 0.85 * 0.8


def coverage(make, n: int, seed: int = 0) -> tuple[float, float]:
    """(bootstrap coverage, t-interval coverage) of the true mean."""
    rng = np.random.default_rng(seed)
    boot = t = 0
    for rep in range(REPS):
        sample, truth = make(rng, n)
        boot += bootstrap_ci(sample, resamples=RESAMPLES, seed=rep).contains(truth)
        t += t_interval(sample).contains(truth)
    return boot / REPS, t / REPS


def main() -> None:
    print(f"coverage of nominal 95% intervals: percentile bootstrap vs Student t ({REPS} simulated comparisons, {RESAMPLES} resamples)")
    print(f"{'seeds':>6} {'normal: boot':>13} {'t':>6} {'15% failures: boot':>19} {'t':>6}")
    for n in (3, 5, 10, 20, 30):
        (nb, nt), (fb, ft) = coverage(_normal, n), coverage(_with_failures, n)
        print(f"{n:>6} {nb:>13.3f} {nt:>6.3f} {fb:>19.3f} {ft:>6.3f}")
    values = np.random.default_rng(1).normal(size=5)
    start = time.perf_counter()
    for i in range(50):
        bootstrap_ci(values, seed=i)
    print(f"\none interval, 5 seeds, 10000 resamples: {(time.perf_counter() - start) / 50 * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
