"""Human units for limits: durations ("90s", "10m", "1.5h"), sizes ("2G", "512M") and counts ("300k", "1.5M").

Used by every time flag of the CLI, the team and task YAML loaders, the budget and the sandbox's limits; each
raises ValueError with a clear message.
"""

from __future__ import annotations

import math
import os
import re

__all__ = ["parse_duration", "parse_size", "parse_count", "capped", "BUDGET_CAP_VAR"]

BUDGET_CAP_VAR = "SYNTHTEAM_BUDGET_CAP"  # e.g. 20s: every wall-clock, job-seconds and per-job limit at most this

_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")


def _split(text: str | float | int) -> tuple[float, str]:
    match = _NUMBER.match(str(text).lower())
    if not match:
        raise ValueError(f"not a number with a unit: {text!r}")
    return float(match.group(1)), match.group(2)


def parse_duration(text: str | float | int) -> float:
    """'90s' | '10m' | '2h' | '1.5h' | '30' (seconds) -> seconds, > 0."""
    value, unit = _split(text)
    if unit in ("sec", "secs", "min", "mins", "hr", "hrs"):
        unit = unit[0]
    if unit not in _DURATION_UNITS:
        raise ValueError(f"unknown duration unit {unit!r} in {text!r} (use s, m, h or d)")
    seconds = value * _DURATION_UNITS[unit]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return seconds


def parse_size(text: str | int) -> int:
    """'2G' | '512M' | '64k' | '1024' (bytes); binary units (1G = 2**30), 'GB'/'GiB' accepted -> bytes > 0."""
    value, unit = _split(text)
    unit = unit.removesuffix("ib").removesuffix("b") if len(unit) > 1 else unit
    return _whole(text, value, unit, _SIZE_UNITS, "size", "K, M, G or T")


def parse_count(text: str | int) -> int:
    """'300k' | '1.5M' | '4000' (decimal units: 1k = 1000) -> a whole number > 0."""
    value, unit = _split(text)
    return _whole(text, value, unit, _COUNT_UNITS, "count", "k, M or G")


def _whole(text: str | int, value: float, unit: str, units: dict[str, int], what: str, hint: str) -> int:
    if unit not in units:
        raise ValueError(f"unknown {what} unit {unit!r} in {text!r} (use {hint})")
    whole = int(value * units[unit])
    if whole <= 0:
        raise ValueError(f"{what} must be positive: {text!r}")
    return whole


def capped(seconds: float) -> float:
    """`seconds`, cut to $SYNTHTEAM_BUDGET_CAP when that is set and lower: how the README's commands run in CI
    time as printed (tests/test_readme.py). Unset (the normal case), every budget is what was asked."""
    text = os.environ.get(BUDGET_CAP_VAR, "").strip()
    if not text:
        return seconds
    try:
        return min(seconds, parse_duration(text))
    except ValueError as exc:
        raise ValueError(f"${BUDGET_CAP_VAR}={text}: {exc}") from None
