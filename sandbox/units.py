"""Durations (`90s`, `10m`, `2h`) and sizes (`512M`, `2G`) as users write them."""

from __future__ import annotations

import re

__all__ = ["parse_duration", "parse_size", "format_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_duration(value: str | int | float) -> float:
    """Seconds from `90s`, `10m`, `2h`, `1.5h`, `250ms` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"bad duration {value!r}: expected e.g. 90s, 10m, 2h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"bad duration {value!r}: expected e.g. 90s, 10m, 2h")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"bad duration {value!r}: must be positive")
    return seconds


def parse_size(value: str | int) -> int:
    """Bytes from `512M`, `2G`, `1.5GiB`, `100k` or a bare number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"bad size {value!r}: expected e.g. 512M, 2G")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"bad size {value!r}: expected e.g. 512M, 2G")
        unit = (match.group(2) or "").lower()[:1]
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError(f"bad size {value!r}: must be positive")
    return size


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"
