"""How accepted checkpoints become the team's one final model (best, uniform soup, greedy soup): the
editor decides (team.engine.acts.editor), the merger builds the candidate and scores it on dev with the
harness's own evaluation job, and installs it only when it stands (and, when a critic signs merges off,
only on its accept). The final model is replaced atomically, so a crash never leaves half a model. It
also keeps the noise estimate (seed-to-seed spread) critics review against.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from groundwork.errors import ConfigError
from roles.context import Experiment, JobOutcome
from roles.flow import Candidate
from roles.schemas import MergeDecision
from team.engine.records import catalog as ev
from team.engine.work.workshop import Workshop, job_key, merge_dirs

__all__ = ["Merger", "POLICIES"]

POLICIES = ("best", "soup", "greedy_soup")


@dataclass
class Merger:
    policy: str  # best | soup | greedy_soup: the team's (an editor's decision may name another)
    work: Workshop
    final_dir: Path
    dev_n: int = 200
    accepted: list[Experiment] = field(default_factory=list)
    members: tuple[str, ...] = ()
    best_dev: float | None = None
    final_dev: float | None = None
    seed_spreads: list[float] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._installing = asyncio.Lock()
        self._order = 0

    @property
    def noise(self) -> float:
        """Seed-to-seed std of dev accuracy where measured, else the binomial std at the best score."""
        if self.seed_spreads:
            return statistics.fmean(self.seed_spreads)
        p = self.best_dev if self.best_dev is not None else 0.5
        return math.sqrt(max(p * (1 - p), 0.0025) / max(self.dev_n, 1))

    def observe(self, seeds: list[JobOutcome]) -> None:
        scores = [o.dev_accuracy for o in seeds if o.dev_accuracy is not None]
        if len(scores) >= 2:
            self.seed_spreads.append(statistics.stdev(scores))

    def ranked(self) -> list[Experiment]:
        return sorted(self.accepted, key=lambda e: (-(e.dev_accuracy or 0.0), e.round,
                                                    json.dumps(e.config, sort_keys=True, default=str)))

    def take(self, new: list[Experiment]) -> bool:
        """Add newly accepted experiments; whether there is a merge to decide (something accepted, and new
        results or jobs still running)."""
        self.accepted.extend(e for e in new if e.job_id not in {a.job_id for a in self.accepted})
        return bool(self.accepted) and not (self.work.stopping and not new)

    async def build(self, r: int, decision: MergeDecision, ranked: list[Experiment], who: tuple[str, str | None]
                    ) -> Candidate:
        """The editor's decision on `ranked` (the accepted experiments it saw) built into a candidate and
        scored on dev (`who`: the replica that decided, or the harness, and the message it answers); members
        it named that were never accepted are dropped (none left: the best accepted one)."""
        members = [m for m in decision.members if any(e.job_id == m for e in ranked)] or [ranked[0].job_id]
        chosen_policy = decision.policy if decision.policy in POLICIES else "best"
        chosen, score = await self._build(r, chosen_policy, members, ranked, who)
        dev = {e.job_id: e.dev_accuracy for e in ranked}
        return Candidate(r, chosen_policy, tuple(chosen), score, tuple(dev[m] for m in chosen), decision.log)

    async def _build(self, r: int, policy: str, members: list[str], ranked: list[Experiment], who: tuple
                     ) -> tuple[list[str], float | None]:
        dev = {e.job_id: e.dev_accuracy for e in ranked}
        if policy == "best" or len(members) == 1:
            return [members[0]], dev[members[0]]
        if policy == "soup":
            score = await self._score(r, members, who)
            if score is None or score < (dev[members[0]] or 0.0):
                return [members[0]], dev[members[0]]  # a soup that loses to its best member is dropped
            return members, score
        return await self._greedy(r, members, dev, who)

    async def _greedy(self, r: int, members: list[str], dev: dict[str, float | None], who: tuple
                      ) -> tuple[list[str], float | None]:
        chosen, score = [members[0]], dev[members[0]]
        for candidate in members[1:]:
            trial = await self._score(r, chosen + [candidate], who)
            joined = trial is not None and score is not None and trial >= score
            self.work.events.emit(ev.SOUP_TRIAL, round=r, members=chosen + [candidate], dev_accuracy=trial,
                                  kept=joined)
            if joined:
                chosen, score = chosen + [candidate], trial
        return chosen, score

    async def _score(self, r: int, members: list[str], who: tuple) -> float | None:
        out = self.work.jobs_dir.parent / "merges" / job_key("soup", sorted(members))
        try:
            await asyncio.to_thread(merge_dirs, [self._model(m) for m in members], out)
        except ConfigError as exc:
            self.work.events.emit(ev.MERGE_SKIPPED, round=r, members=members, reason=str(exc))
            return None
        return await self.work.dev_score(job_key("dev", sorted(members)), out, round=r, agent=who[0], parent=who[1])

    def _model(self, job_id: str) -> Path:
        return self.work.jobs_dir / job_id / "final_model"

    async def install(self, c: Candidate, *, agent: str = "editor", parent: str | None = None,
                      signed_by: str | None = None, only_if_better: bool = False, order: int = 0) -> None:
        """Make the candidate the final model (atomically), unless it already is; one install at a time.
        `only_if_better`: only when its dev beats the current final model's, a tie going to the lower
        `order` (the earlier trial), so parallel lanes finishing in any order end with the same model."""
        async with self._installing:
            if only_if_better:
                if c.dev is None or (self.final_dev is not None and (c.dev, -order) <= (self.final_dev, -self._order)):
                    return
                self._order = order
            await self._install(c, agent, parent, signed_by)

    async def _install(self, c: Candidate, agent: str, parent: str | None, signed_by: str | None) -> None:
        if c.log:
            self.log.append(f"round {c.round}: {c.log}")
        changed = tuple(c.members) != self.members
        if changed:
            tmp = self.final_dir.with_name(self.final_dir.name + ".tmp")
            await asyncio.to_thread(merge_dirs, [self._model(m) for m in c.members], tmp)
            old = self.final_dir.with_name(self.final_dir.name + ".old")
            if self.final_dir.exists():
                self.final_dir.rename(old)
            tmp.rename(self.final_dir)
            shutil.rmtree(old, ignore_errors=True)
            self.members, self.final_dev = tuple(c.members), c.dev
        self.note(c, changed=changed, agent=agent, parent=parent, signed_by=signed_by)

    def note(self, c: Candidate, *, changed: bool, agent: str, parent: str | None, signed_by: str | None = None,
             rejected_by: str | None = None) -> None:
        if changed and c.dev is not None and (self.best_dev is None or c.dev > self.best_dev):
            self.best_dev = c.dev
        extra = {k: v for k, v in (("signed_by", signed_by), ("rejected_by", rejected_by)) if v}
        self.work.events.emit(ev.MERGE, round=c.round, policy=c.policy, members=list(c.members),
                              dev_accuracy=c.dev, changed=changed, best_dev=self.best_dev, agent=agent,
                              parent=parent, **extra)

    def summary(self) -> dict:
        return {"members": list(self.members), "dev_accuracy": self.final_dev, "policy": self.policy,
                "accepted": len(self.accepted)}
