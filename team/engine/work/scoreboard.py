"""The harness's own record of a run: every finished experiment with its final verdict, by round, the
counts the outcome reports, every proposal sent (a plan review checks a plan against those of earlier
rounds), and the seed groups waiting to join the noise estimate at their round's merge step. Agents never
read it directly; the critic's context takes the best accepted dev score and the noise from the merger, as
the harness measures them.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from roles.context import Experiment, JobOutcome

__all__ = ["Scoreboard", "pooled_dev"]


def pooled_dev(outcome: JobOutcome, confirmations: tuple[JobOutcome, ...]) -> float | None:
    """The dev score of a result, pooled over the other seeds of its config in the lineage."""
    dev = outcome.dev_accuracy
    if confirmations and dev is not None:
        return statistics.fmean([c.dev_accuracy or 0.0 for c in confirmations] + [dev])
    return dev


@dataclass
class Scoreboard:
    experiments: dict[str, Experiment] = field(default_factory=dict)  # job id -> with its latest verdict
    outcomes: dict[str, JobOutcome] = field(default_factory=dict)
    proposals: dict[int, list[Any]] = field(default_factory=dict)  # round -> every proposal sent
    claims: dict[str, list[dict]] = field(default_factory=dict)  # planner agent -> {config, node, operator}
    seeds: dict[int, list[list[JobOutcome]]] = field(default_factory=dict)  # round -> seed groups to observe
    planning: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)  # one planner at a time

    def proposed(self, round: int, proposals: list[Any], by: str = "") -> None:
        if not proposals:
            return
        self.proposals.setdefault(round, []).extend(proposals)
        self.claims.setdefault(by, []).extend({"config": dict(p.config), "node": p.node, "operator": p.operator}
                                              for p in proposals)

    def claimed_by_others(self, planner: str) -> tuple[dict, ...]:
        """What every other planner of the team proposed so far (labs do not repeat each other)."""
        return tuple(c for who, configs in sorted(self.claims.items()) if who != planner for c in configs)

    def tried_before(self, round: int) -> tuple[dict, ...]:
        """The configs of every proposal sent in earlier rounds."""
        return tuple(q.config for rr, plan in sorted(self.proposals.items()) if rr < round for q in plan)

    def observe_later(self, round: int, seeds: list[JobOutcome]) -> None:
        """Seeds of one config: the noise estimate takes them in at the round's merge step (in round order,
        so every critic of a round reviews against the same noise)."""
        self.seeds.setdefault(round, []).append(seeds)

    def observations(self, round: int) -> list[list[JobOutcome]]:
        return self.seeds.pop(round, [])

    def finished(self, outcome: JobOutcome) -> None:
        self.outcomes[outcome.job_id] = outcome

    def judged(self, e: Experiment) -> None:
        self.experiments[e.job_id] = e

    def accepted(self, round: int) -> list[Experiment]:
        return [e for e in self.experiments.values() if e.round == round and e.verdict == "accept"
                and e.dev_accuracy is not None]

    def all(self) -> list[Experiment]:
        return sorted(self.experiments.values(), key=lambda e: (e.round, repr(sorted(e.config.items())), e.seed))

    def job_counts(self) -> dict[str, int]:
        counts = Counter(o.status for o in self.outcomes.values())
        return dict(counts) | {"accepted": sum(e.verdict == "accept" for e in self.experiments.values())}
