"""Human units for limits, re-exported: they live in `groundwork.units`, under every layer."""

from groundwork.units import BUDGET_CAP_VAR, capped, parse_duration, parse_size

__all__ = ["parse_duration", "parse_size", "capped", "BUDGET_CAP_VAR"]
