"""Power of a paired comparison, before and after it runs: the minimum detectable difference (MDE) for a
number of seeds, and the seeds needed for a difference a researcher names, from the noise floor.

Choices (stated in every report): a two-sided paired t test at α = 0.05 with power 0.8, the test the
comparison's t interval is. Its power is computed exactly from scipy's noncentral t distribution. The sd
of a paired difference is the observed sd of the differences where a comparison has them; before it runs
it is √2 × the noise floor's test sd (two independent runs of the same recipe differ by that much; real
arms that share seed effects differ by less, so this is the conservative side).

A noise floor is itself a few runs: five runs put its sd within about 0.6–2.9× of the true one (χ², 4 degrees of
freedom, 95%). The plan carries that range (`mde_range`: the MDE at both ends of the sd's interval), so a planned
MDE is read as the estimate it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from scipy import optimize
from scipy import stats as sps

__all__ = ["ALPHA", "POWER", "power", "mde", "seeds_needed", "paired_sd", "sd_interval", "power_brief", "spread_brief",
           "MAX_SEEDS"]

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 100_000  # beyond this "seeds needed" is reported as None: no study of this kind can reach it


def power(difference: float, sd: float, seeds: int, *, alpha: float = ALPHA) -> float:
    """Chance that a two-sided paired t test at `alpha` on `seeds` paired differences of sd `sd` rejects
    'no difference' when the true mean difference is `difference`."""
    if seeds < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if difference != 0 else alpha
    df, shift = seeds - 1, abs(difference) / sd * math.sqrt(seeds)
    crit = float(sps.t.ppf(1 - alpha / 2, df))
    upper, lower = float(sps.nct.sf(crit, df, shift)), float(sps.nct.cdf(-crit, df, shift))
    return upper + (lower if math.isfinite(lower) else 0.0)  # scipy's far tail is NaN once it underflows


def mde(sd: float | None, seeds: int, *, alpha: float = ALPHA, target: float = POWER) -> float | None:
    """The smallest true difference detected with probability `target` (None: no sd, or under 2 seeds)."""
    if sd is None or seeds < 2:
        return None
    if sd <= 0:
        return 0.0
    # power rises with the difference; at 50 sd every test with 2+ seeds has power above 0.8 at α ≥ 1e-3
    return float(optimize.brentq(lambda d: power(d, sd, seeds, alpha=alpha) - target, 0.0, 50.0 * sd, xtol=1e-9))


def seeds_needed(difference: float, sd: float | None, *, alpha: float = ALPHA, target: float = POWER) -> int | None:
    """The fewest seeds (2 or more) whose paired t test detects `difference` with probability `target`."""
    if sd is None:
        return None
    if sd <= 0:
        return 2
    if power(difference, sd, MAX_SEEDS, alpha=alpha) < target:
        return None
    low, high = 2, MAX_SEEDS  # power rises with the seeds: bisect for the first that reaches the target
    while low < high:
        mid = (low + high) // 2
        if power(difference, sd, mid, alpha=alpha) >= target:
            high = mid
        else:
            low = mid + 1
    return low


def paired_sd(noise_sd: float | None, diff_sd: float | None = None) -> float | None:
    """The sd of a paired difference: the observed one when known, else √2 × the noise floor's sd."""
    if diff_sd is not None:
        return float(diff_sd)
    return None if noise_sd is None else math.sqrt(2.0) * float(noise_sd)


def sd_interval(sd: float | None, runs: int | None, *, level: float = 0.95) -> tuple[float, float] | None:
    """The `level` interval of a true sd estimated as `sd` from `runs` runs (χ² with runs − 1 degrees of
    freedom; None under 2 runs or without an sd)."""
    if sd is None or runs is None or runs < 2:
        return None
    df, tail = runs - 1, (1.0 - level) / 2.0
    return (float(sd) * math.sqrt(df / float(sps.chi2.ppf(1.0 - tail, df))),
            float(sd) * math.sqrt(df / float(sps.chi2.ppf(tail, df))))


def power_brief(noise_sd: float | None, seeds: int, *, detect: float | None = None,
                arms: Mapping[str, tuple[float | None, int]] | None = None,
                noise_runs: int | None = None) -> dict[str, Any]:
    """What comparison.json says about power for one task: the MDE from the noise floor at `seeds`
    paired seeds (and, given the floor's `noise_runs`, at both ends of its sd's 95% interval), the seeds a
    named difference needs, and per arm (observed paired sd, paired seeds) the MDE from that arm's own spread."""
    sd = paired_sd(noise_sd)
    brief: dict[str, Any] = {"alpha": ALPHA, "power": POWER, "test": "paired t, two-sided", "seeds": seeds,
                             "paired_sd": _round(sd), "mde": _round(mde(sd, seeds)),
                             "basis": None if sd is None else f"√2 × noise-floor test sd {noise_sd:.4g}"}
    interval = sd_interval(noise_sd, noise_runs)
    if interval is not None and seeds >= 2:
        brief |= {"noise_runs": noise_runs, "mde_range": [_round(mde(paired_sd(end), seeds)) for end in interval]}
    if detect is not None:
        brief |= {"detect": detect, "seeds_for_detect": seeds_needed(detect, sd)}
    brief["arms"] = {arm: {"diff_sd": _round(s), "seeds": n, "mde_observed": _round(mde(s, n))}
                     for arm, (s, n) in (arms or {}).items()}
    return brief


def spread_brief(diff_sd: float | None, pilot_seeds: int, seeds: int, *, detect: float | None = None) -> dict[str, Any]:
    """The plan from an earlier study's (a pilot's) observed paired sd over `pilot_seeds` seeds: the MDE at `seeds`,
    at both ends of that sd's 95% interval (n − 1 degrees of freedom; it assumes normal differences, so a two-valued
    outcome makes it too narrow), and the seeds `detect` needs. Unlike the noise floor, the spread holds what the
    arms' decisions add: search luck, not only the training seed."""
    interval = sd_interval(diff_sd, pilot_seeds)
    brief: dict[str, Any] = {"diff_sd": _round(diff_sd), "pilot_seeds": pilot_seeds, "seeds": seeds,
                             "mde": _round(mde(diff_sd, seeds)),
                             "mde_range": None if interval is None else [_round(mde(end, seeds)) for end in interval]}
    if detect is not None:
        brief |= {"detect": detect, "seeds_for_detect": seeds_needed(detect, diff_sd)}
    return brief


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
