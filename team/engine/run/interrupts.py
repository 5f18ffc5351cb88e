"""Interrupts for sessions that run off the main thread. Only the main thread receives signals, so a session
in a worker thread (a comparison's cells side by side) registers its loop here while it runs its team, and
whoever holds the main thread forwards a signal to every registered session (`interrupt_all`). A session that
registers after the signal (a cell still preparing its task) is interrupted as it registers.

    token = register(loop, lambda signum: ...)   # the session, inside its event loop
    interrupt_all(signal.SIGINT)                 # the main thread's handler
    unregister(token); clear()
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable

__all__ = ["register", "unregister", "interrupt_all", "clear"]

_lock = threading.Lock()
_live: dict[int, tuple[asyncio.AbstractEventLoop, Callable[[int], object]]] = {}
_tokens = itertools.count(1)
_pending: int | None = None  # the signal forwarded so far, until clear()


def register(loop: asyncio.AbstractEventLoop, interrupt: Callable[[int], object]) -> int:
    """`interrupt(signum)` is called on `loop` when a signal is forwarded (at once if one already was)."""
    with _lock:
        token = next(_tokens)
        _live[token] = (loop, interrupt)
        pending = _pending
    if pending is not None:
        loop.call_soon_threadsafe(interrupt, pending)
    return token


def unregister(token: int) -> None:
    with _lock:
        _live.pop(token, None)


def interrupt_all(signum: int) -> int:
    """Forward `signum` to every registered session; how many there were."""
    global _pending
    with _lock:
        _pending = signum
        live = list(_live.values())
    for loop, interrupt in live:
        try:
            loop.call_soon_threadsafe(interrupt, signum)
        except RuntimeError:  # its loop has just closed: that session is over
            pass
    return len(live)


def clear() -> None:
    global _pending
    with _lock:
        _pending = None
