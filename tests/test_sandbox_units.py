"""Durations and sizes as researchers type them on the command line and in team YAML."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import parse_duration, parse_size


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("2h", 7200), ("1.5h", 5400),
                                           ("30", 30), (" 2 m ", 120), ("1d", 86400), (45, 45)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, size", [("2G", 2 << 30), ("512M", 512 << 20), ("1024", 1024), ("64k", 64 << 10),
                                        ("2GB", 2 << 30), ("1GiB", 1 << 30), ("1.5g", 3 << 29)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text, message", [("10q", "unknown duration unit 'q'"), ("soon", "not a number"),
                                           ("0s", "positive"), ("-5m", "not a number"), ("", "not a number")])
def test_bad_durations_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize("text, message", [("2X", "unknown size unit 'x'"), ("big", "not a number"), ("0", "positive")])
def test_bad_sizes_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_size(text)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["s", "m", "h"]))
def test_duration_units_scale(n, unit):
    assert parse_duration(f"{n}{unit}") == n * {"s": 1, "m": 60, "h": 3600}[unit]
