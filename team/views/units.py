"""Numbers in a reader's units: durations as 10m or 4m 30s, counts as 2,000,000, dollars as $5.00, and a
budget line built from them. Shared by the live progress, the report and the role-graph text."""

from __future__ import annotations

__all__ = ["duration", "count", "budget_value", "budget_line", "scripted_only", "TOKENS_SCRIPTED"]

# What a scripted run's token figures are: nothing was sent, the ledger counts the prompts it would have sent.
TOKENS_SCRIPTED = "prompt tokens an LLM would have been sent (scripted run: no model was called)"


def duration(seconds: float | None) -> str:
    """600 -> '10m', 270 -> '4m 30s', 3.25 -> '3.2s', 5400 -> '1h 30m'."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds:.2f}s" if seconds else "0s"
    if seconds < 9.95:
        return f"{seconds:.1f}s".replace(".0s", "s")
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return " ".join(p for p in parts if p)


def count(value: float | None) -> str:
    """2e6 -> '2,000,000'; a fraction keeps one decimal (12.5 -> '12.5')."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def budget_value(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    if key in ("wall", "job_seconds", "job"):
        return duration(value)
    if key == "usd":
        return f"${value:,.2f}"
    return count(value)


def budget_line(used: dict, limits: dict, keys=("wall", "job_seconds", "tokens", "usd", "model_calls"),
                sep: str = " of ", clock: str | None = None) -> str:
    """'wall 4m 30s of 10m, job_seconds 6m of 6m, tokens 18,256 of 2,000,000, ...' (limits only where set);
    with `clock`, job_seconds says which: 'job_seconds (CPU) 6m of 6m'."""
    parts = []
    for key in keys:
        if key not in used and not limits.get(key):
            continue
        limit = limits.get(key)
        name = f"{key} ({clock_name(clock)})" if key == "job_seconds" and clock else key
        parts.append(f"{name} {budget_value(key, used.get(key, 0.0))}" + (f"{sep}{budget_value(key, limit)}"
                                                                           if limit else ""))
    return ", ".join(parts)


def clock_name(clock: str | None) -> str:
    """How job-seconds were counted: 'CPU' (the jobs' cgroup CPU-seconds) or 'wall'."""
    return "CPU" if clock == "cpu" else "wall"


def scripted_only(backends) -> bool:
    """True when every agent ran on the scripted policies (no model call was made)."""
    names = list(backends or [])
    return bool(names) and all(b == "scripted" for b in names)
