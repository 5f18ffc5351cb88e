"""What an agent knows: the messages it received, as research-log facts it can plan from.

A planner (an entry director or engineer) learns only from messages that reached it along the team
file's edges: the editor's log, verdicts, results. It also remembers what it proposed, so it never
proposes an experiment twice even when no result came back. Facts carry the round they belong to, and a
plan for round r reads only rounds up to r-2 (the ones that have settled), so a resumed run replays it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roles.context import Experiment
from roles.flow import LogPayload, MergePayload, ResultPayload, VerdictPayload
from roles.schemas import Proposal

__all__ = ["Memory"]


@dataclass
class Memory:
    proposed: dict[int, list[Proposal]] = field(default_factory=dict)  # round -> what it proposed
    learned: dict[str, tuple[int, Experiment]] = field(default_factory=dict)  # job id -> (round, experiment)
    logs: list[tuple[int, str, str]] = field(default_factory=list)  # (round, message id, entry)
    best: dict[int, float] = field(default_factory=dict)  # round -> best dev known after it
    heard: list[tuple[int, str]] = field(default_factory=list)  # (round, message id) of every fact

    def learn(self, round: int, msg_id: str, payload: object) -> None:
        """Take in a log, a verdict or a result (anything else teaches nothing)."""
        if isinstance(payload, LogPayload):
            self.logs.append((round, msg_id, payload.entry))
            for e in payload.experiments:
                self._experiment(round, e)
            if payload.best_dev is not None:
                self._best(round, payload.best_dev)
        elif isinstance(payload, VerdictPayload):
            if payload.experiment is not None:
                self._experiment(round, payload.experiment)
            if isinstance(payload.subject, MergePayload):
                c = payload.subject.candidate
                self.logs.append((round, msg_id, f"{payload.verdict.decision} of the merge: {c.log}".strip()))
                if payload.verdict.decision == "accept" and c.dev is not None:
                    self._best(round, c.dev)
        elif isinstance(payload, ResultPayload):
            o = payload.outcome
            self._experiment(round, Experiment(o.job_id, o.config, o.seed, o.status, o.dev_accuracy, "", round,
                                               o.node, curve=o.dev_curve))
        else:
            return
        self.heard.append((round, msg_id))

    def _experiment(self, round: int, e: Experiment) -> None:
        self.learned[e.job_id] = (round, e)
        if e.verdict == "accept" and e.dev_accuracy is not None:
            self._best(round, e.dev_accuracy)

    def _best(self, round: int, dev: float) -> None:
        self.best[round] = max(self.best.get(round, dev), dev)

    # -- what a plan for round r may read ---------------------------------------------------------
    def history(self, r: int) -> tuple[Experiment, ...]:
        """Experiments learned from rounds <= r-2, then own proposals of rounds <= r-1 with no result."""
        known = [e for rr, e in self.ordered() if rr <= r - 2]
        seen = {_key(e.config) for e in known}
        pending = []
        for rr in sorted(self.proposed):
            if rr > r - 1:
                continue
            for i, p in enumerate(self.proposed[rr]):
                if _key(p.config) not in seen or p.operator != "tune":
                    status = "running" if rr >= r - 1 else "no report"
                    ops = () if p.operator == "tune" else (p.operator,)
                    pending.append(Experiment(f"planned-r{rr}p{i}", p.config, 0, status, None, "", rr, p.node, ops))
        return tuple(known + pending)

    def ordered(self) -> list[tuple[int, Experiment]]:
        """Learned experiments in an order that does not depend on job ids (random) or arrival times."""
        return sorted(self.learned.values(), key=lambda x: (x[0], _key(x[1].config), x[1].seed, x[1].status))

    def best_dev(self, upto: int) -> float | None:
        values = [v for rr, v in self.best.items() if rr <= upto]
        return max(values) if values else None

    def plateau(self, upto: int) -> int:
        best, since = None, 0
        for rr in range(1, upto + 1):
            value = self.best_dev(rr)
            if value is not None and (best is None or value > best + 1e-9):
                best, since = value, 0
            else:
                since += 1
        return since

    def log_entries(self, upto: int) -> tuple[str, ...]:
        return tuple(entry for rr, _, entry in sorted(self.logs) if rr <= upto)

    def last_heard(self, upto: int) -> str | None:
        """The id of the latest fact a plan for round upto+2 answers (deterministic)."""
        ids = sorted((rr, mid) for rr, mid in self.heard if rr <= upto)
        return ids[-1][1] if ids else None


def _key(config) -> str:
    return repr(sorted((k, repr(v)) for k, v in dict(config).items() if k != "seed"))
