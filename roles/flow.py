"""Which payloads each role kind takes and sends: the table that validation, `synthteam show` and the
runtime share. A payload kind a role has no handler for can never be sent to it.

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

__all__ = ["PAYLOADS", "DECISIONS", "HANDLES", "takes", "sends", "edge_kinds", "makes_decisions"]

PAYLOADS = ("start", "plan", "proposal", "result", "verdict", "merge", "log")
DECISIONS = ("accept", "revise", "reject")

# role kind -> payload kinds it has a handler for
HANDLES: dict[str, frozenset[str]] = {
    "director": frozenset({"start", "plan", "log", "result", "verdict"}),
    "engineer": frozenset({"start", "proposal", "verdict", "result", "log"}),
    "critic": frozenset({"result", "plan", "merge"}),
    "editor": frozenset({"result", "verdict"}),
    "solo": frozenset({"start", "result", "log", "verdict"}),
    "sampler": frozenset({"start", "result"}),
}

# (sender kind, kind it received) -> what it sends to a target of each kind ("*": any other kind)
_SENDS: dict[tuple[str, str], dict[str, str]] = {
    ("director", "*"): {"director": "plan", "critic": "plan", "engineer": "proposal"},
    ("engineer", "*"): {"*": "result"},
    ("solo", "*"): {"*": "result"},
    ("sampler", "*"): {"*": "result"},
    ("critic", "result"): {"*": "verdict"},
    ("critic", "merge"): {"*": "verdict"},
    ("critic", "plan"): {"engineer": "proposal", "critic": "plan", "director": "verdict"},
    ("editor", "*"): {"critic": "merge", "*": "log"},
}


def takes(kind: str, payload: str) -> bool:
    return payload in HANDLES.get(kind, frozenset())


def sends(sender: str, received: str, target: str) -> str | None:
    """The payload kind `sender` sends to a `target`-kind agent after handling `received` (None: nothing)."""
    table = _SENDS.get((sender, received)) or _SENDS.get((sender, "*")) or {}
    out = table.get(target, table.get("*"))
    return out if out is not None and takes(target, out) else None


def makes_decisions(kind: str) -> bool:
    """Only a critic's messages carry a decision that `when:` can route on."""
    return kind == "critic"


def edge_kinds(source: str, target: str, received: frozenset[str]) -> frozenset[str]:
    """Payload kinds that can travel an edge source->target, given what the source can receive."""
    return frozenset(k for r in received for k in [sends(source, r, target)] if k is not None)
