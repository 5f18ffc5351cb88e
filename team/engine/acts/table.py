"""The handler table: `@handles(role kind, payload kind)` puts a handler in it, `@role_state(role kinds)`
names the state a role's handlers share (one per state class and run). The runtime calls
`ACTS[(kind, payload)](ctx, msg)`; a test checks that the table holds exactly the pairs roles.flow declares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ACTS", "STATES", "handles", "role_state", "forget"]

Handler = Callable[[Any, Any], Awaitable[None]]

ACTS: dict[tuple[str, str], Handler] = {}  # (role kind, payload kind) -> handler(ctx, msg)
STATES: dict[str, type] = {}  # role kind -> the class of its handlers' shared state


def handles(role: str, *kinds: str) -> Callable[[Handler], Handler]:
    """Register the decorated coroutine as `role`'s handler of each payload kind in `kinds`."""
    def register(fn: Handler) -> Handler:
        for kind in kinds:
            if (role, kind) in ACTS and ACTS[role, kind] is not fn:
                raise ValueError(f"a {role} already handles {kind!r} ({ACTS[role, kind].__qualname__})")
            ACTS[role, kind] = fn
        return fn
    return register


def role_state(*roles: str) -> Callable[[type], type]:
    """Register the decorated class as the state the handlers of `roles` share (made once per run)."""
    def register(cls: type) -> type:
        for role in roles:
            STATES[role] = cls
        return cls
    return register


def forget(role: str, kind: str) -> None:
    """Take a handler out of the table (a test that adds one for a while)."""
    ACTS.pop((role, kind), None)
