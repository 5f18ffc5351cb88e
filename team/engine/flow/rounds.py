"""The rounds of a run: which messages of each round are still in flight, which have not reached a job
slot yet, whether every entry agent has planned the round, and whether it has settled.

Round r settles when every entry has planned it (or stopped), nothing of round r is in flight, and its
merge step (the editors', or the harness's own when the team has no editor) has run. Entry agents plan
round r+1 once round r holds its job slots and round r-1 has settled; critics review round r once round
r-1 has settled. Every decision therefore depends on finished rounds only, and a resumed run replays it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

__all__ = ["RoundBook"]


class RoundBook:
    def __init__(self, entries: list[str], merge_step: Callable[[int], Awaitable[None]] | None, enabled: bool = True):
        self.enabled = enabled
        self._entries = set(entries)
        self._planned: dict[str, int] = {e: 0 for e in entries}  # the last round each entry has planned
        self._closed: set[str] = set()
        self._pending: defaultdict[int, int] = defaultdict(int)
        self._prejob: defaultdict[int, int] = defaultdict(int)
        self._merged: set[int] = set()
        self._settled: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self._taken: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self._merge_step = merge_step
        self._tasks: list[asyncio.Task] = []

    # -- what the runtime reports -----------------------------------------------------------------
    def planned(self, entry: str, r: int) -> None:
        self._planned[entry] = max(self._planned[entry], r)
        self._check(r)

    def close(self, entry: str) -> None:
        """The entry plans no more rounds."""
        self._closed.add(entry)
        for r in range(1, self.last_round() + 2):
            self._check(r)

    def add(self, r: int, prejob: bool) -> None:
        self._pending[r] += 1
        self._prejob[r] += prejob

    def taken(self, r: int) -> None:
        """A message that had not reached a job slot now has one, or ended without a job."""
        self._prejob[r] -= 1
        self._check(r)

    def done(self, r: int) -> None:
        self._pending[r] -= 1
        self._check(r)

    # -- what agents wait for -----------------------------------------------------------------------
    async def wait_settled(self, r: int) -> None:
        if self.enabled and r >= 1 and not self._beyond(r):
            await self._settled[r].wait()

    async def wait_taken(self, r: int) -> None:
        if self.enabled and r >= 1 and not self._beyond(r):
            await self._taken[r].wait()

    def is_settled(self, r: int) -> bool:
        return not self.enabled or r < 1 or self._settled[r].is_set() or self._beyond(r)

    def last_round(self) -> int:
        return max(self._planned.values(), default=0)

    async def drain(self) -> None:
        while any(not t.done() for t in self._tasks):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for t in self._tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()

    # -- internals --------------------------------------------------------------------------------
    def _sealed(self, r: int) -> bool:
        return all(self._planned[e] >= r or e in self._closed for e in self._entries)

    def _beyond(self, r: int) -> bool:
        """No entry will ever plan round r."""
        return self._closed >= self._entries and r > self.last_round()

    def _check(self, r: int) -> None:
        if not self._sealed(r):
            return
        if self._prejob[r] <= 0:
            self._taken[r].set()
        if self._pending[r] > 0:
            return
        if r not in self._merged and r <= self.last_round() and self._merge_step is not None:
            self._merged.add(r)
            self._pending[r] += 1
            self._tasks.append(asyncio.ensure_future(self._merge(r)))
            return
        self._merged.add(r)
        self._settled[r].set()

    async def _merge(self, r: int) -> None:
        try:
            await self.wait_settled(r - 1)
            await self._merge_step(r)
        finally:
            self.done(r)
