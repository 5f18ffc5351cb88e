"""Messages: what travels along a team file's edges. A message is a typed payload (a kind declared in
roles.flow) with an id, the id of the message it answers, sender and recipient replicas, the edge, the
round and a lane.

Ids are derived from the parent's id, the edge and the position among its siblings, never from timing, so
a resumed run that replays the same decisions produces the same ids (and hits the same call and job memos).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from roles.flow import (
    Candidate,
    LogPayload,
    MergePayload,
    PlanPayload,
    ProposalPayload,
    ResultPayload,
    Start,
    VerdictPayload,
    decision_of,
)

__all__ = ["Message", "PlanPayload", "ProposalPayload", "ResultPayload", "VerdictPayload", "MergePayload",
           "LogPayload", "Candidate", "Start", "message_id", "decision_of"]

_EMPTY: Mapping[int, int] = MappingProxyType({})


def message_id(parent: str | None, edge: str, lane: int, k: int = 0, round: int = 0) -> str:
    """A short id that depends only on where the message sits in its lineage."""
    return "m" + hashlib.sha1(f"{parent}|{edge}|{lane}|{k}|{round}".encode()).hexdigest()[:11]


@dataclass(frozen=True)
class Message:
    id: str
    parent: str | None
    sender: str  # a replica name (or the agent's name for a panel's combined verdict)
    recipient: str  # a replica name
    edge: str  # "<from agent>-><to agent>"; "" for what the runtime gives an agent itself
    kind: str  # a kind declared in roles.flow
    round: int
    lane: int
    payload: Any
    loops: Mapping[int, int] = field(default_factory=lambda: _EMPTY)  # loop-back crossings, by edge index
    parents: tuple[str, ...] = ()  # an aggregate (a merge) answers several messages
