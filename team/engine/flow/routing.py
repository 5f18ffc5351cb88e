"""Routing: which edges a message takes, which replica receives it, what it becomes on the way.

- An edge carries a payload kind when roles.flow says the sender sends that kind to the target's kind,
  and its `when` (if any) names the payload's decision. A payload travels as its own kind, except a plan
  (or a plan critic's accepted plan), which becomes proposals for engineers and shares for directors.
- Into an agent with replicas a message goes to replica `lane % replicas`: lanes are the positions of
  experiments in their plan, so a lineage stays with the same engineer and load spreads evenly;
  `broadcast: true` gives every replica a copy (a critic panel's answers are then combined).
- A plan is split over the sender's plan-taking edges by capacity (how many experiments each target
  takes per round): engineers get one proposal each, sub-directors their share, a plan critic the whole.
- Crossing a loop-back edge counts against its `max_loops` for that lineage; past it the message is not
  delivered (a `loop_limit` row says so).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from roles.flow import decision_of, kind_of, sends
from team.config.topology import Edge, Team
from team.engine.flow.messages import PlanPayload, ProposalPayload, VerdictPayload

__all__ = ["Router", "Delivery"]


Delivery = tuple[Edge, str, str, Any, int, Mapping[int, int]]  # edge, recipient replica, kind, payload, lane, loops


class Router:
    def __init__(self, team: Team, slots: int = 1):
        self.team = team
        self.slots = slots
        self._capacity: dict[str, int] = {}
        self._names = {name: agent.replica_names() for name, agent in team.agents.items()}  # built once, not per message
        self._routes: dict[tuple[str, str], tuple[tuple[Edge, str, str], ...]] = {}

    def kind(self, agent: str) -> str:
        return self.team.agents[agent].kind

    def agent_of(self, replica: str) -> str:
        return replica.split("[", 1)[0]

    def capacity(self, agent: str, seen: frozenset[str] = frozenset()) -> int:
        """Experiments `agent` can take per round: an engineer's replicas; for a director (or a plan critic)
        the sum over its plan-taking edges, unless its settings fix `proposals`."""
        if agent in self._capacity:
            return self._capacity[agent]
        kind, spec = self.kind(agent), self.team.agents[agent]
        if kind == "engineer":
            n = spec.replicas
        elif kind in ("director", "critic"):
            n = spec.settings.get("proposals") or sum(
                self.capacity(e.to, seen | {agent}) for e in self.plan_edges(agent) if e.to not in seen | {agent})
        else:
            n = 0
        if not seen:
            self._capacity[agent] = n
        return n

    def plan_edges(self, agent: str) -> list[Edge]:
        return [e for e in self.team.out_edges(agent) if e.kinds & {"plan", "proposal"}]

    def deliveries(self, agent: str, received: str, payload: Any, lane: int,
                   loops: Mapping[int, int]) -> Iterator[Delivery | tuple[Edge, None, str, str, int, Mapping]]:
        """Every (edge, recipient, kind, payload, lane, loops) this output goes to; a recipient of None
        marks a message stopped by its edge's max_loops."""
        decision = decision_of(payload)
        plan = _plan_of(payload, received)
        own = kind_of(payload)
        offset = 0
        for edge, kind, target_kind in self.routes(agent, received):
            if not edge.carries(kind, decision):
                continue
            if plan is not None and kind in ("plan", "proposal"):
                share = self.capacity(edge.to) if target_kind != "critic" else len(plan.proposals)
                for part, part_lane in _split(plan, kind, offset, share, target_kind):
                    yield from self._to(edge, kind, part, part_lane, loops)
                offset += share if target_kind != "critic" else 0
            elif kind == own:
                yield from self._to(edge, kind, payload, lane, loops)

    def routes(self, agent: str, received: str) -> tuple[tuple[Edge, str, str], ...]:
        """(edge, payload kind, target kind) for each out-edge of `agent` that carries something after it
        handled `received`, in edge order: worked out once per pair, not per message."""
        key = (agent, received)
        if key not in self._routes:
            kind = self.kind(agent)
            self._routes[key] = tuple((e, k, self.kind(e.to)) for e in self.team.out_edges(agent)
                                      for k in sorted(sends(kind, received, self.kind(e.to))))
        return self._routes[key]

    def _to(self, edge: Edge, kind: str, payload: Any, lane: int, loops: Mapping[int, int]) -> list:
        if edge.loop_back:
            crossed = loops.get(edge.index, 0)
            if crossed >= (edge.max_loops or 0):
                return [(edge, None, kind, payload, lane, loops)]
            loops = MappingProxyType({**loops, edge.index: crossed + 1})
        names = self._names[edge.to]
        if not edge.broadcast:
            return [(edge, names[lane % len(names)], kind, payload, lane, loops)]
        return [(edge, name, kind, payload, lane, loops) for name in names]


def _plan_of(payload: Any, received: str) -> PlanPayload | None:
    """The plan an output carries: a director's own, or the one a plan critic accepted."""
    if isinstance(payload, PlanPayload):
        return payload
    if isinstance(payload, VerdictPayload) and isinstance(payload.subject, PlanPayload) and received == "plan":
        return payload.subject
    return None


def _split(plan: PlanPayload, kind: str, offset: int, share: int, target_kind: str):
    """The part of `plan` an edge gets: one proposal per engineer lane, a sub-plan for a director, the
    whole plan for a critic."""
    if target_kind == "critic":
        yield plan, 0
        return
    mine = plan.proposals[offset: offset + share]
    if not mine:
        return
    if kind == "proposal":
        for i, p in enumerate(mine):
            yield ProposalPayload(p, offset + i), i
    else:
        yield replace(plan, proposals=tuple(mine)), 0
