"""The scripted engineer's code changes: what it writes for a proposal's operator, as a patch of whole
files against the parent node's program (roles.operators does the rewriting).

- `tune`: no patch (the constants are the job's config);
- a named code operator (`curriculum`, `ema`, ...): that operator applied to the parent's train.py;
- `improve`: the first operator, in a seeded order, that this program does not carry yet and that
  touches none of the functions already changed;
- `draft`: no patch (the starter, or the parent, as it is); `debug`: no patch and the knob diagnosis;
- after a failed attempt of a code change, no patch: the change is rolled back to the parent's program.
"""

from __future__ import annotations

import random
from typing import Any

from roles.context import EngineerContext

__all__ = ["code_patch", "choose_operator", "GENERIC_OPERATORS"]

GENERIC_OPERATORS = ("draft", "improve", "debug")
_BROKEN = ("failed", "no_model", "nan", "timeout", "oom")


def code_patch(ctx: EngineerContext, rng: random.Random) -> tuple[dict[str, Any] | None, str]:
    """(patch or None, what it did) for the proposal's operator on the parent's files."""
    from roles.operators import OPERATORS, OperatorError, apply_operator
    from tasks.solutions import ENTRY, Solution

    op = ctx.operator
    if op in ("tune", "draft", "debug") or not ctx.files:
        return None, "" if op == "tune" else f"{op}: the parent's program unchanged"
    if ctx.last is not None and ctx.last.status in _BROKEN and ctx.attempt > 0:
        return None, f"rolled the {op} change back: the program {ctx.last.status} ({ctx.last.error[:120]})"
    name = choose_operator(ctx.applied, rng) if op == "improve" else op
    if name is None or name not in OPERATORS:
        return None, f"{op}: no operator left to apply" if name is None else f"unknown operator {op!r}: constants only"
    try:
        new, why = apply_operator(name, Solution(dict(ctx.files)), rng)
    except OperatorError as exc:
        return None, f"{name} does not apply here ({exc}): constants only"
    return {"files": {ENTRY: new.files[ENTRY]}}, why


def choose_operator(applied: tuple[str, ...], rng: random.Random) -> str | None:
    """A code operator the program does not carry, touching no function an applied one changed."""
    from roles.operators import OPERATORS

    taken = {f for name in applied if name in OPERATORS for f in OPERATORS[name].functions}
    names = [n for n, op in OPERATORS.items() if op.kind == "code" and n not in applied
             and not set(op.functions) & taken and not set(op.conflicts) & set(applied)]
    rng.shuffle(names)
    return names[0] if names else None
