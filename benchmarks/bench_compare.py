"""How far to trust the comparison's intervals with few seeds, and what they cost: the real coverage of
the 95% BCa-bootstrap and Student t intervals of a mean for normal and skewed (with failures) scores at
n = 3..30 seeds, the time per interval, and the minimum detectable difference for the noise floors in
LOG.md. Run by hand: `python benchmarks/bench_compare.py`.
"""

from __future__ import annotations

import time

import numpy as np

from team.studies.power import mde, paired_sd, seeds_needed
from team.studies.stats import bootstrap_ci, t_interval

REPS = 1000
RESAMPLES = 2000
NOISE_FLOORS = {"reverse": 0.129, "add3": 0.403, "fncall": 0.208}  # LOG.md, 2026-11-27: 3 seeds, test sd


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
    print(f"coverage of nominal 95% intervals: BCa bootstrap vs Student t ({REPS} simulated comparisons, {RESAMPLES} resamples)")
    print(f"{'seeds':>6} {'normal: boot':>13} {'t':>6} {'15% failures: boot':>19} {'t':>6}")
    for n in (3, 5, 10, 20, 30):
        (nb, nt), (fb, ft) = coverage(_normal, n), coverage(_with_failures, n)
        print(f"{n:>6} {nb:>13.3f} {nt:>6.3f} {fb:>19.3f} {ft:>6.3f}")
    values = np.random.default_rng(1).normal(size=5)
    start = time.perf_counter()
    for i in range(50):
        bootstrap_ci(values, seed=i)
    print(f"\none interval, 5 seeds, 10000 resamples: {(time.perf_counter() - start) / 50 * 1e3:.2f} ms")
    print("\nminimum detectable difference (paired t, two-sided α 0.05, power 0.8, paired sd √2 × noise sd)")
    print(f"{'task':>8} {'noise sd':>9} {'MDE 3':>7} {'MDE 5':>7} {'MDE 10':>7} {'MDE 20':>7} {'seeds for 0.1':>14}")
    for task, sd in NOISE_FLOORS.items():
        s = paired_sd(sd)
        print(f"{task:>8} {sd:>9.3f} " + " ".join(f"{mde(s, n):>7.3f}" for n in (3, 5, 10, 20))
              + f" {seeds_needed(0.1, s):>14}")


if __name__ == "__main__":
    main()
