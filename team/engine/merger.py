"""The editor's side of a round: decide how accepted checkpoints become the team's one final model
(best, uniform soup, greedy soup), build it, score it on dev with a harness-run job, and keep it only
when it stands. The final model is replaced atomically, so a crash never leaves half a model.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roles.context import EditorContext, Experiment, JobOutcome, TaskCard
from roles.schemas import MergeDecision
from sandbox.errors import ConfigError
from team.engine.agents import AgentRunner
from team.engine.workshop import Workshop, job_key, merge_dirs

__all__ = ["Merger"]


@dataclass
class Merger:
    card: TaskCard
    policy: str  # best | soup | greedy_soup
    work: Workshop
    final_dir: Path
    editor: AgentRunner | None = None
    scripted_editor: Callable[[EditorContext], MergeDecision] | None = None
    dev_n: int = 200
    accepted: list[Experiment] = field(default_factory=list)
    members: tuple[str, ...] = ()
    best_dev: float | None = None
    final_dev: float | None = None
    seed_spreads: list[float] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

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

    async def merge_round(self, r: int, accepted: list[Experiment]) -> None:
        self.accepted.extend(accepted)
        if not self.accepted or self.work.stopping and not accepted:
            return
        ranked = sorted(self.accepted, key=lambda e: (-(e.dev_accuracy or 0.0), e.round, json.dumps(e.config, sort_keys=True)))
        decision = await self._decide(r, ranked)
        members = [m for m in decision.members if any(e.job_id == m for e in ranked)] or [ranked[0].job_id]
        if decision.log:
            self.log.append(f"round {r}: {decision.log}")
        await self._build(r, decision.policy if decision.policy in ("best", "soup", "greedy_soup") else "best",
                          members, ranked)

    async def _decide(self, r: int, ranked: list[Experiment]) -> MergeDecision:
        ctx = EditorContext(task=self.card, round=r, policy=self.policy, accepted=tuple(ranked),
                            current=self.members, current_dev=self.final_dev, noise=self.noise)
        if self.editor is not None:
            return (await self.editor.think(ctx, round=r, key="merge")).output  # type: ignore[return-value]
        if self.scripted_editor is not None:
            return self.scripted_editor(ctx)
        return MergeDecision(policy="best", members=[ranked[0].job_id])

    async def _build(self, r: int, policy: str, members: list[str], ranked: list[Experiment]) -> None:
        dev = {e.job_id: e.dev_accuracy for e in ranked}
        if policy == "best" or len(members) == 1:
            chosen, score = [members[0]], dev[members[0]]
        elif policy == "soup":
            chosen, score = members, await self._score(r, members)
            if score is None or score < (dev[members[0]] or 0.0):
                chosen, score = [members[0]], dev[members[0]]  # a soup that loses to its best member is dropped
        else:
            chosen, score = await self._greedy(r, members, dev)
        await self._install(r, policy, chosen, score)

    async def _greedy(self, r: int, members: list[str], dev: dict[str, float | None]) -> tuple[list[str], float | None]:
        chosen, score = [members[0]], dev[members[0]]
        for candidate in members[1:]:
            trial = await self._score(r, chosen + [candidate])
            joined = trial is not None and score is not None and trial >= score
            self.work.events.emit("soup_trial", round=r, members=chosen + [candidate], dev_accuracy=trial,
                                  kept=joined)
            if joined:
                chosen, score = chosen + [candidate], trial
        return chosen, score

    async def _score(self, r: int, members: list[str]) -> float | None:
        out = self.work.jobs_dir.parent / "merges" / job_key("soup", sorted(members))
        try:
            await asyncio.to_thread(merge_dirs, [self._model(m) for m in members], out)
        except ConfigError as exc:
            self.work.events.emit("merge_skipped", round=r, members=members, reason=str(exc))
            return None
        return await self.work.dev_score(job_key("dev", sorted(members)), out, round=r)

    def _model(self, job_id: str) -> Path:
        return self.work.jobs_dir / job_id / "final_model"

    async def _install(self, r: int, policy: str, chosen: list[str], score: float | None) -> None:
        if tuple(chosen) == self.members:
            self._note(r, policy, chosen, score, changed=False)
            return
        tmp = self.final_dir.with_name(self.final_dir.name + ".tmp")
        await asyncio.to_thread(merge_dirs, [self._model(m) for m in chosen], tmp)
        old = self.final_dir.with_name(self.final_dir.name + ".old")
        if self.final_dir.exists():
            self.final_dir.rename(old)
        tmp.rename(self.final_dir)
        shutil.rmtree(old, ignore_errors=True)
        self.members, self.final_dev = tuple(chosen), score
        self._note(r, policy, chosen, score, changed=True)

    def _note(self, r: int, policy: str, chosen: list[str], score: float | None, changed: bool) -> None:
        if score is not None and (self.best_dev is None or score > self.best_dev):
            self.best_dev = score
        self.work.events.emit("merge", round=r, policy=policy, members=chosen, dev_accuracy=score, changed=changed,
                              best_dev=self.best_dev)

    def summary(self) -> dict[str, Any]:
        return {"members": list(self.members), "dev_accuracy": self.final_dev, "policy": self.policy,
                "accepted": len(self.accepted)}
