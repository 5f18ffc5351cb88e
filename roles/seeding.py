"""A private random stream per decision: seeded by a digest of what the decision reads, so that one context
gives one choice (never the global RNG, never the clock)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from typing import Any

__all__ = ["stable_rng"]


def stable_rng(*parts: Any) -> random.Random:
    """A private RNG seeded by a digest of `parts` (never the global RNG, never the clock)."""
    text = json.dumps(parts, sort_keys=True, default=_jsonable)
    return random.Random(int(hashlib.sha256(text.encode()).hexdigest()[:16], 16))


# Never part of a seed: ids, timings, paths, prompt curves, stderr (progress-bar rates) differ between like runs.
_VOLATILE = frozenset({"job_id", "seconds", "error", "curve", "budget_left", "stderr_tail"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): value[k] for k in sorted(value, key=str)}
    if hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__ if name not in _VOLATILE}
    return repr(value)
