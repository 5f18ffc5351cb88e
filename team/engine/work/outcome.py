"""What a team's run produced, as the runtime hands it back: why it stopped, the final model's members and
dev score, job counts, how busy the devices were, and who decided in this session (model, repaired, memo,
scripted fallback)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TeamOutcome"]


@dataclass(frozen=True)
class TeamOutcome:
    stop_reason: str
    final_members: tuple[str, ...]
    final_dev: float | None
    best_dev: float | None
    jobs: Mapping[str, int]
    experiments: int
    busy_seconds: float
    capacity: int
    model_errors: int
    fallbacks: int
    backends: tuple[str, ...]
    decisions: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # role -> this session's sources
    # (model, repaired, fallback, memo); result.json counts every session's from events.jsonl (engine.control)
    final_node: str | None = None  # the tree node whose program made the final model's best member
    final_operators: tuple[str, ...] = ()  # the code changes that program carries
    nodes: int = 0  # programs in the tree of attempts (the starter aside)

    @classmethod
    def build(cls, stop_reason: str, merger: Any, scoreboard: Any, work: Any, runners: list[Any],
              tree: Any = None) -> TeamOutcome:
        faults = [f for r in runners for f in r.faults]
        decisions: dict[str, Counter] = {}
        for r in runners:
            decisions.setdefault(r.role.name, Counter()).update(getattr(r, "sources", Counter()))
        return cls(stop_reason=stop_reason, final_members=tuple(merger.members), final_dev=merger.final_dev,
                   best_dev=merger.best_dev, jobs=scoreboard.job_counts(), experiments=len(scoreboard.experiments),
                   busy_seconds=work.busy_seconds, capacity=work.capacity, model_errors=len(faults),
                   fallbacks=sum("fallback" in f for f in faults), backends=_backends(runners),
                   decisions={k: dict(v) for k, v in decisions.items()}, **_final(merger, tree))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TeamOutcome:
        """The outcome a `team_end` row kept (its JSON lists back to tuples)."""
        tuples = ("final_members", "backends", "final_operators")
        return cls(**{k: tuple(v) if k in tuples else v for k, v in row.items()})

    def busy_share(self, elapsed: float) -> float | None:
        window = elapsed * self.capacity
        return round(min(self.busy_seconds / window, 1.0), 4) if window > 0 else None


def _final(merger: Any, tree: Any) -> dict[str, Any]:
    node = tree.of_job(merger.members[0]) if tree is not None and merger.members else None
    return {"final_node": node.id if node else None, "final_operators": tuple(node.operators) if node else (),
            "nodes": len(tree.nodes) - 1 if tree is not None else 0}


def _backends(runners: list[Any]) -> tuple[str, ...]:
    names = set()
    for r in runners:
        name = r.model.name
        names.add(name if name in ("scripted", "sampler") or ":" in name else f"litellm:{name}")
    return tuple(sorted(names))
