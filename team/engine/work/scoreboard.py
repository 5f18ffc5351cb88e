"""The harness's own record of a run: every finished experiment with its final verdict, by round, and the
counts the outcome reports. Agents never read it directly; the critic's context takes the best accepted
dev score and the noise from the merger, as the harness measures them.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

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
