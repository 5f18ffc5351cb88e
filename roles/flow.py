"""Message kinds, each declared once: the payload class a message of that kind carries, the role kinds that
take it, who sends it (after handling what, to an agent of which kind), and what its `message` row says of
it. Validation (team.config: what can travel each edge), routing, the runtime's handler table (checked
against `handles` by a test) and `synthteam show` are derived from these declarations; team/GRAPH.md says
how to add a kind.

    kind      what it carries
    start     the run's kick-off, given by the runtime to every entry agent (never on an edge)
    plan      a director's plan for a round: to a sub-director (its share) or to a critic (for review)
    proposal  one experiment, to an engineer
    result    a finished job (its harness dev score, curves, status)
    verdict   a critic's decision (accept / revise / reject) on a result, a plan or a merge
    merge     an editor's candidate final model, to a critic for sign-off
    log       the editor's research-log entry for a round (what was kept, and why)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from roles.context import Experiment, JobOutcome
from roles.schemas import Proposal, Verdict

__all__ = ["Kind", "Sends", "kind", "withdraw", "KINDS", "DECISIONS", "kinds", "handles", "takes", "sends",
           "edge_kinds", "makes_decisions", "kind_of", "decision_of", "Start", "PlanPayload", "ProposalPayload",
           "ResultPayload", "VerdictPayload", "MergePayload", "LogPayload", "Candidate"]

DECISIONS = ("accept", "revise", "reject")


@dataclass(frozen=True)
class Sends:
    """One way a kind is sent: by an agent of role kind `by`, after it handled a message of one of the kinds
    `after` (None: any), to an agent of one of the role kinds `to` (None: any kind that takes it)."""

    by: str
    after: tuple[str, ...] | None = None
    to: tuple[str, ...] | None = None

    def matches(self, sender: str, received: str, target: str) -> bool:
        return (self.by == sender and (self.after is None or received in self.after)
                and (self.to is None or target in self.to))


@dataclass(frozen=True)
class Kind:
    """A message kind: its payload class, who takes it and who sends it, whether it travels before its
    round's jobs hold their slots (the rounds wait for it), whether it carries a decision `when:` routes on."""

    name: str
    payload: type
    taken_by: frozenset[str]
    sent: tuple[Sends, ...] = ()
    before_jobs: bool = False
    decides: bool = False


KINDS: dict[str, Kind] = {}  # kind name -> its declaration, in the order they were declared


def kind(name: str, *, taken_by: Iterable[str], sent: Iterable[Sends] = (), before_jobs: bool = False,
         decides: bool = False) -> Callable[[type], type]:
    """Declare the decorated payload class as the one kind `name` carries (its `KIND`)."""
    def declare(cls: type) -> type:
        if name in KINDS and KINDS[name].payload is not cls:
            raise ValueError(f"message kind {name!r} is already declared by {KINDS[name].payload.__name__}")
        cls.KIND = name
        KINDS[name] = Kind(name, cls, frozenset(taken_by), tuple(sent), before_jobs, decides)
        return cls
    return declare


def withdraw(name: str) -> None:
    """Forget a declared kind (a test that declares one for a while)."""
    KINDS.pop(name, None)


# -- what the declarations say ------------------------------------------------------------------------

def kinds() -> tuple[str, ...]:
    return tuple(KINDS)


def handles(role_kind: str) -> frozenset[str]:
    """The payload kinds a role kind has a handler for."""
    return frozenset(k.name for k in KINDS.values() if role_kind in k.taken_by)


def takes(role_kind: str, payload: str) -> bool:
    k = KINDS.get(payload)
    return k is not None and role_kind in k.taken_by


def sends(sender: str, received: str, target: str) -> frozenset[str]:
    """The payload kinds `sender` may send to a `target`-kind agent after handling `received`."""
    return frozenset(k.name for k in KINDS.values()
                     if target in k.taken_by and any(s.matches(sender, received, target) for s in k.sent))


def edge_kinds(source: str, target: str, received: frozenset[str]) -> frozenset[str]:
    """Payload kinds that can travel an edge source->target, given what the source can receive."""
    return frozenset(k for r in received for k in sends(source, r, target))


def makes_decisions(role_kind: str) -> bool:
    """Whether the role kind sends a kind that carries a decision (only those edges may route by `when:`)."""
    return any(k.decides and any(s.by == role_kind for s in k.sent) for k in KINDS.values())


def kind_of(payload: Any) -> str:
    return type(payload).KIND


def decision_of(payload: Any) -> str | None:
    """What `when:` routes on: a verdict's custom label when it has one, else its decision."""
    if not isinstance(payload, VerdictPayload):
        return None
    return payload.verdict.label or payload.verdict.decision


# -- the built-in kinds -------------------------------------------------------------------------------

_ANY_PLANNER = ("director", "engineer", "solo", "sampler")


@kind("start", taken_by=_ANY_PLANNER)
@dataclass(frozen=True)
class Start:
    """The run's kick-off: an entry agent plans its rounds (or starts its lanes)."""

    def summary(self) -> dict[str, Any]:
        return {}


@kind("plan", taken_by=("director", "critic"), before_jobs=True,
      sent=(Sends("director", to=("director", "critic")), Sends("critic", after=("plan",), to=("critic",))))
@dataclass(frozen=True)
class PlanPayload:
    proposals: tuple[Proposal, ...]
    reason: str = ""
    revisions: int = 0  # how many times a plan critic has sent it back

    def summary(self) -> dict[str, Any]:
        return {"proposals": len(self.proposals)}


@kind("proposal", taken_by=("engineer",), before_jobs=True,
      sent=(Sends("director", to=("engineer",)), Sends("critic", after=("plan",), to=("engineer",))))
@dataclass(frozen=True)
class ProposalPayload:
    proposal: Proposal
    index: int = 0  # its place in the plan it came from

    def summary(self) -> dict[str, Any]:
        return {}


@kind("result", taken_by=("critic", "editor", "engineer", "director", "solo", "sampler"),
      sent=(Sends("engineer"), Sends("solo"), Sends("sampler")))
@dataclass(frozen=True)
class ResultPayload:
    """A finished job with what a reviewer needs: the proposal it answers, earlier attempts' seeds."""

    outcome: JobOutcome
    proposal: Proposal
    attempt: int = 0
    confirmations: tuple[JobOutcome, ...] = ()  # other seeds of the same config in this lineage
    author: str = ""  # the replica that ran it

    def summary(self) -> dict[str, Any]:
        o = self.outcome
        return {"job_id": o.job_id, "status": o.status, "dev_accuracy": o.dev_accuracy}


@kind("verdict", taken_by=("engineer", "editor", "director", "solo"), decides=True,
      sent=(Sends("critic", after=("result", "merge")), Sends("critic", after=("plan",), to=("director",))))
@dataclass(frozen=True)
class VerdictPayload:
    verdict: Verdict
    subject: Any  # the ResultPayload, PlanPayload or MergePayload it decides on
    experiment: Experiment | None = None  # for a result: the research-log line (dev pooled over seeds)
    panel: Mapping[str, int] = field(default_factory=dict)  # a broadcast panel's votes

    def summary(self) -> dict[str, Any]:
        label = {"label": self.verdict.label} if self.verdict.label else {}
        return {"decision": self.verdict.decision, **label,
                "job_id": getattr(getattr(self.subject, "outcome", None), "job_id", None)}


@dataclass(frozen=True)
class Candidate:
    """An editor's candidate final model: built and scored by the harness, installed only when it stands."""

    round: int
    policy: str
    members: tuple[str, ...]
    dev: float | None
    member_devs: tuple[float | None, ...] = ()
    log: str = ""


@kind("merge", taken_by=("critic",), sent=(Sends("editor", to=("critic",)),))
@dataclass(frozen=True)
class MergePayload:
    candidate: Candidate
    revisions: int = 0

    def summary(self) -> dict[str, Any]:
        return {"members": list(self.candidate.members), "dev_accuracy": self.candidate.dev}


@kind("log", taken_by=("director", "engineer", "solo"), sent=(Sends("editor"),))
@dataclass(frozen=True)
class LogPayload:
    """The research-log entry of a round: what was kept, the experiments behind it, the best dev so far."""

    round: int
    entry: str
    experiments: tuple[Experiment, ...] = ()
    members: tuple[str, ...] = ()
    best_dev: float | None = None

    def summary(self) -> dict[str, Any]:
        return {"entry": self.entry[:200]}

