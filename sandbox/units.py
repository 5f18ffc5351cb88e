"""Human units for limits, re-exported: they live in `groundwork.units`, under every layer."""

from groundwork.units import BUDGET_CAP_VAR, capped, parse_count, parse_duration, parse_size

__all__ = ["parse_duration", "parse_size", "parse_count", "capped", "BUDGET_CAP_VAR"]
