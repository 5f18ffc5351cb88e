"""The budget ledger: every model call and job reserves its budget first and settles after.

Limits are hard: `reserve` raises BudgetExhausted when the reservation would take a resource past its
limit (reserved-but-unsettled amounts count as spent), so nothing can exceed a limit. Spend is
attributed per agent and per role. Wall-clock is measured as active run time, so a resumed run
continues the clock where the crashed one stopped.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from groundwork.errors import BudgetExhausted

__all__ = ["Ledger", "Reservation", "RESOURCES", "parse_budget"]

RESOURCES = ("wall", "job_seconds", "tokens", "usd", "model_calls")


@dataclass
class Reservation:
    id: int
    amounts: dict[str, float]
    agent: str
    role: str
    settled: bool = False


@dataclass
class Ledger:
    limits: dict[str, float]
    wall_offset: float = 0.0  # active seconds of earlier sessions of this run (resume)
    on_change: Callable[[str, dict], None] | None = None
    clock: Callable[[], float] = time.monotonic
    spent: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    reserved: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_agent: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    by_role: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))

    def __post_init__(self) -> None:
        self._start = self.clock()
        self._ids = itertools.count(1)
        self._open: dict[int, Reservation] = {}

    # -- wall clock ---------------------------------------------------------------------------
    def start_clock(self) -> None:
        """Start the wall clock now (set-up such as pre-training the base model is not the team's time)."""
        self._start = self.clock()

    def elapsed(self) -> float:
        return self.wall_offset + self.clock() - self._start

    def wall_left(self) -> float:
        return self.limits.get("wall", float("inf")) - self.elapsed()

    # -- reserve and settle -------------------------------------------------------------------
    def left(self, resource: str) -> float:
        if resource == "wall":
            return self.wall_left()
        return self.limits.get(resource, float("inf")) - self.spent[resource] - self.reserved[resource]

    def check(self, amounts: Mapping[str, float]) -> None:
        for resource, amount in amounts.items():
            left = self.left(resource)
            if amount > left + 1e-9 or left <= 0:
                raise BudgetExhausted(resource, amount, max(left, 0.0))

    def reserve(self, amounts: Mapping[str, float], *, agent: str = "", role: str = "") -> Reservation:
        """Hold `amounts` against the limits; the `wall` amount is only checked (time passes anyway)."""
        self.check(amounts)
        held = {k: float(v) for k, v in amounts.items() if k != "wall"}
        for resource, amount in held.items():
            self.reserved[resource] += amount
        r = Reservation(next(self._ids), held, agent, role)
        self._open[r.id] = r
        self._emit("reserve", r, held)
        return r

    def settle(self, r: Reservation, actual: Mapping[str, float]) -> None:
        """Replace the reservation by what was actually used (the truth, even past the estimate)."""
        if r.settled:
            return
        r.settled = True
        self._open.pop(r.id, None)
        used = {}
        for resource, amount in r.amounts.items():
            self.reserved[resource] -= amount
            used[resource] = float(actual.get(resource, 0.0))
        for resource, amount in actual.items():
            used.setdefault(resource, float(amount))
        self.charge(used, agent=r.agent, role=r.role, reservation=r.id)

    def handover(self, r: Reservation, used: Mapping[str, float], keep: Mapping[str, float], *,
                 role: str | None = None) -> Reservation:
        """Settle `r` with what was used and keep the part of it a follow-up needs (a training job's dev
        evaluation) as a new reservation, in one step: nothing else can take it in between. The kept part
        never exceeds what `r` had left, so a job that ran over its estimate cannot push a limit past."""
        rest = {k: min(float(v), max(r.amounts.get(k, 0.0) - float(used.get(k, 0.0)), 0.0)) for k, v in keep.items()}
        self.settle(r, used)
        for resource, amount in rest.items():
            self.reserved[resource] += amount
        follow = Reservation(next(self._ids), rest, r.agent, role or r.role)
        self._open[follow.id] = follow
        self._emit("reserve", follow, rest)
        return follow

    def charge(self, used: Mapping[str, float], *, agent: str = "", role: str = "", reservation: int = 0) -> None:
        for resource, amount in used.items():
            self.spent[resource] += amount
            self.by_agent[agent][resource] += amount
            self.by_role[role][resource] += amount
        if self.on_change:
            self.on_change("settle", {"reservation": reservation, "agent": agent, "role": role,
                                      "used": dict(used), "spent": self.snapshot()})

    def _emit(self, what: str, r: Reservation, amounts: Mapping[str, float]) -> None:
        if self.on_change:
            self.on_change(what, {"reservation": r.id, "agent": r.agent, "role": r.role, "amounts": dict(amounts)})

    # -- reporting ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, float]:
        out = {k: round(self.spent.get(k, 0.0), 6) for k in RESOURCES if k != "wall"}
        out["wall"] = round(self.elapsed(), 3)
        return out

    def limits_out(self) -> dict[str, float | None]:
        return {k: self.limits.get(k) for k in RESOURCES}

    def exhausted(self) -> str | None:
        """The first resource with nothing left, if any."""
        for resource in RESOURCES:
            if resource in self.limits and self.left(resource) <= 0:
                return resource
        return None

    def open_reservations(self) -> list[Reservation]:
        return list(self._open.values())

    def per_agent(self) -> dict[str, dict[str, float]]:
        return {agent: dict(v) for agent, v in self.by_agent.items()}

    def per_role(self) -> dict[str, dict[str, float]]:
        return {role: dict(v) for role, v in self.by_role.items()}


def parse_budget(text: str, base: Mapping[str, float]) -> dict[str, float]:
    """`--budget 3m` (wall-clock; job-seconds scaled with it) or `--budget wall=3m,tokens=1e5,usd=1`."""
    from groundwork.units import parse_duration

    out = dict(base)
    if "=" not in text:
        wall = parse_duration(text)
        if "wall" in base and "job_seconds" in base and base["wall"] > 0:
            out["job_seconds"] = base["job_seconds"] * wall / base["wall"]
        out["wall"] = wall
        return out
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in RESOURCES:
            raise ValueError(f"unknown budget key {key!r} (known: {', '.join(RESOURCES)})")
        out[key] = parse_duration(value) if key in ("wall", "job_seconds") else float(value)
        if out[key] < 0:
            raise ValueError(f"budget {key} must not be negative")
    return out
