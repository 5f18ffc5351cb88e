"""Messages: what travels along a team file's edges. A message is a typed payload (roles.flow kinds) with an
id, the id of the message it answers, sender and recipient replicas, the edge, the round and a lane.

Ids are derived from the parent's id, the edge and the position among its siblings, never from timing, so
a resumed run that replays the same decisions produces the same ids (and hits the same call and job memos).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from roles.context import Experiment, JobOutcome
from roles.schemas import Proposal, Verdict

__all__ = ["Message", "PlanPayload", "ProposalPayload", "ResultPayload", "VerdictPayload", "MergePayload",
           "LogPayload", "Candidate", "message_id", "decision_of", "summary_of"]

_EMPTY: Mapping[int, int] = MappingProxyType({})


def message_id(parent: str | None, edge: str, lane: int, k: int = 0, round: int = 0) -> str:
    """A short id that depends only on where the message sits in its lineage."""
    return "m" + hashlib.sha1(f"{parent}|{edge}|{lane}|{k}|{round}".encode()).hexdigest()[:11]


@dataclass(frozen=True)
class PlanPayload:
    proposals: tuple[Proposal, ...]
    reason: str = ""
    revisions: int = 0  # how many times a plan critic has sent it back


@dataclass(frozen=True)
class ProposalPayload:
    proposal: Proposal
    index: int = 0  # its place in the plan it came from


@dataclass(frozen=True)
class ResultPayload:
    """A finished job with what a reviewer needs: the proposal it answers, earlier attempts' seeds."""

    outcome: JobOutcome
    proposal: Proposal
    attempt: int = 0
    confirmations: tuple[JobOutcome, ...] = ()  # other seeds of the same config in this lineage
    author: str = ""  # the replica that ran it


@dataclass(frozen=True)
class Candidate:
    """An editor's candidate final model: built and scored by the harness, installed only when it stands."""

    round: int
    policy: str
    members: tuple[str, ...]
    dev: float | None
    member_devs: tuple[float | None, ...] = ()
    log: str = ""


@dataclass(frozen=True)
class MergePayload:
    candidate: Candidate
    revisions: int = 0


@dataclass(frozen=True)
class VerdictPayload:
    verdict: Verdict
    subject: Any  # the ResultPayload, PlanPayload or MergePayload it decides on
    experiment: Experiment | None = None  # for a result: the research-log line (dev pooled over seeds)
    panel: Mapping[str, int] = field(default_factory=dict)  # a broadcast panel's votes


@dataclass(frozen=True)
class LogPayload:
    """The research-log entry of a round: what was kept, the experiments behind it, the best dev so far."""

    round: int
    entry: str
    experiments: tuple[Experiment, ...] = ()
    members: tuple[str, ...] = ()
    best_dev: float | None = None


@dataclass(frozen=True)
class Message:
    id: str
    parent: str | None
    sender: str  # a replica name (or the agent's name for a panel's combined verdict)
    recipient: str  # a replica name
    edge: str  # "<from agent>-><to agent>"; "" for what the runtime gives an agent itself
    kind: str  # roles.flow.PAYLOADS
    round: int
    lane: int
    payload: Any
    loops: Mapping[int, int] = field(default_factory=lambda: _EMPTY)  # loop-back crossings, by edge index
    parents: tuple[str, ...] = ()  # an aggregate (a merge) answers several messages


def decision_of(payload: Any) -> str | None:
    """What `when:` routes on: a verdict's custom label when it has one, else its decision."""
    if not isinstance(payload, VerdictPayload):
        return None
    return payload.verdict.label or payload.verdict.decision


def summary_of(payload: Any) -> dict[str, Any]:
    """A few fields of a payload for its event row (the full content is in the model_call and job rows)."""
    if isinstance(payload, VerdictPayload):
        label = {"label": payload.verdict.label} if payload.verdict.label else {}
        return {"decision": payload.verdict.decision, **label,
                "job_id": getattr(getattr(payload.subject, "outcome", None), "job_id", None)}
    if isinstance(payload, ResultPayload):
        return {"job_id": payload.outcome.job_id, "status": payload.outcome.status,
                "dev_accuracy": payload.outcome.dev_accuracy}
    if isinstance(payload, PlanPayload):
        return {"proposals": len(payload.proposals)}
    if isinstance(payload, MergePayload):
        return {"members": list(payload.candidate.members), "dev_accuracy": payload.candidate.dev}
    if isinstance(payload, LogPayload):
        return {"entry": payload.entry[:200]}
    return {}


def model_path(jobs_dir: Path, job_id: str) -> Path:
    return jobs_dir / job_id / "final_model"
