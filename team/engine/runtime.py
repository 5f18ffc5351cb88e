"""The async runtime: walks a validated team graph in rounds on a prepared task.

A round: the planner (the director, or the entry agent) proposes experiments; engineers turn them into
jobs that run concurrently in the sandbox; critics review each result (a broadcast edge makes every
replica review, by majority); `revise` loops back to the engineer within `max_loops`; the editor merges
accepted checkpoints into the final model. Round r+1 is planned as soon as round r's jobs hold their
slots, from the results of rounds up to r-1, so devices never wait for a review — and every decision
depends only on finished rounds, so a resumed run replays to the same result.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roles.context import (
    CriticContext,
    DirectorContext,
    EngineerContext,
    Experiment,
    JobOutcome,
    SoloContext,
    TaskCard,
)
from roles.schemas import Plan, Proposal, Verdict
from team.engine.agents import AgentRunner
from team.engine.merger import Merger
from team.config.topology import Team
from team.engine.workshop import Workshop, job_key

__all__ = ["TeamRuntime", "RoundState"]


@dataclass
class RoundState:
    experiments: list[Experiment] = field(default_factory=list)
    accepted: list[tuple[Experiment, Path]] = field(default_factory=list)
    outcomes: dict[str, JobOutcome] = field(default_factory=dict)


@dataclass
class TeamRuntime:
    team: Team
    card: TaskCard
    work: Workshop
    merger: Merger
    planner: AgentRunner
    engineers: list[AgentRunner]
    critics: list[AgentRunner]
    broadcast_review: bool
    revisions: int
    rounds: int
    seed: int = 0
    job_seconds: float = 60.0
    state: RoundState = field(default_factory=RoundState)
    best_by_round: dict[int, float | None] = field(default_factory=dict)
    stop_reason: str = ""
    extra_runners: list[AgentRunner] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._merged: dict[int, asyncio.Event] = {0: _set_event(), -1: _set_event()}
        self._started: dict[int, asyncio.Event] = {}
        self._plans: dict[int, list[Proposal]] = {}

    def _merge_event(self, r: int) -> asyncio.Event:
        return self._merged.setdefault(r, asyncio.Event())

    # -- the round loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        if self.planner.role.kind == "solo":
            await self._solo_loop()
            return
        tasks: list[asyncio.Task] = []
        for r in range(1, self.rounds + 1):
            proposals = await self._plan(r)
            if not proposals or self.work.stopping:
                break
            self._started[r] = asyncio.Event()
            tasks.append(asyncio.create_task(self._round(r, proposals), name=f"round-{r}"))
            await _first(self._started[r].wait(), tasks[-1])  # round r holds its slots: plan the next
        await asyncio.gather(*tasks)
        self.stop_reason = self.stop_reason or ("budget" if self.work.stopping else f"{self.rounds} rounds")

    async def _plan(self, r: int) -> list[Proposal]:
        await self._merge_event(r - 2).wait()  # plan from finished rounds only (deterministic on resume)
        history = self._history(upto=r - 2) + self._pending(r - 1)
        ctx = DirectorContext(task=self.card, round=r, n_proposals=len(self.engineers), history=tuple(history),
                              best_dev=self.best_by_round.get(r - 2), rounds_left=self.rounds - r + 1,
                              plateau=self._plateau(r - 2), plateau_limit=self.team.plateau or self.rounds,
                              seed=self.seed, budget_left=self._budget_left(), instructions=self.planner.role.prompt)
        thought = await self.planner.think(ctx, round=r, key="plan")
        plan: Plan = thought.output  # type: ignore[assignment]
        if plan.stop:
            self.stop_reason = f"the {self.planner.role.name} stopped: {plan.reason}"
        proposals = self._valid(plan.proposals, r)[: len(self.engineers)]
        self._plans[r] = proposals
        return [] if plan.stop else proposals

    async def _round(self, r: int, proposals: list[Proposal]) -> None:
        waiting = [asyncio.Event() for _ in proposals]
        jobs = [asyncio.create_task(self._experiment(r, i, p, waiting[i])) for i, p in enumerate(proposals)]
        await _first(*(e.wait() for e in waiting), asyncio.gather(*jobs, return_exceptions=True), all_of=len(waiting))
        self._started[r].set()
        results = await asyncio.gather(*jobs)
        await self._merge_event(r - 1).wait()
        await self._merge(r, [x for x in results if x is not None])
        self._merge_event(r).set()

    # -- one experiment: engineer -> job -> critic (-> revise) ----------------------------------------
    async def _experiment(self, r: int, i: int, proposal: Proposal,
                          started: asyncio.Event) -> tuple[Experiment, list[JobOutcome]] | None:
        engineer = self.engineers[i % len(self.engineers)]
        last: JobOutcome | None = None
        fix: Mapping[str, Any] = {}
        confirmations: list[JobOutcome] = []
        for attempt in range(self.revisions + 1):
            outcome = await self._attempt(engineer, r, i, attempt, proposal, last, fix, started)
            started.set()
            if outcome is None:  # the budget or the run stopped it: the last finished attempt stands
                return self._unrevised(r, last, confirmations)
            verdict = await self._review(r, i, attempt, outcome, tuple(confirmations))
            if verdict.decision != "revise" or attempt == self.revisions:
                return self._record(r, outcome, verdict, confirmations), confirmations + [outcome]
            if verdict.second_seed and outcome.status == "ok":
                confirmations.append(outcome)
            last, fix = outcome, verdict.fix
        return None

    async def _attempt(self, engineer: AgentRunner, r: int, i: int, attempt: int, proposal: Proposal,
                       last: JobOutcome | None, fix: Mapping[str, Any], started: asyncio.Event) -> JobOutcome | None:
        ctx = EngineerContext(task=self.card, round=r, proposal=proposal.config, rationale=proposal.rationale,
                              last=last, fix=dict(fix), seed=self.seed + 17 * r + i, wall_seconds=self.job_seconds,
                              instructions=engineer.role.prompt)
        spec = (await engineer.think(ctx, round=r, key=f"p{i}a{attempt}")).output
        config = self._clean(spec.config) or self._clean(proposal.config) or {}
        key = job_key(r, i, attempt, config, spec.seed)
        return await self.work.run_recipe(key, config, spec.seed, min(spec.wall_seconds, self.job_seconds),
                                          agent=engineer.replica, role=engineer.role.name, round=r,
                                          attempt=attempt, parent=f"r{r}p{i}", started=started)

    async def _review(self, r: int, i: int, attempt: int, outcome: JobOutcome,
                      confirmations: tuple[JobOutcome, ...]) -> Verdict:
        if not self.critics:
            decision = "accept" if outcome.status == "ok" else "reject"
            return Verdict(decision=decision, reasons=["no critic in this team: ok jobs are accepted"])
        await self._merge_event(r - 1).wait()
        ctx = CriticContext(task=self.card, round=r, outcome=outcome, best_dev=self.merger.best_dev,
                            noise=self.merger.noise, confirmations=confirmations, flags=_flags(self.work, outcome),
                            revisions_left=self.revisions - attempt)
        panel = self.critics if self.broadcast_review else [self.critics[i % len(self.critics)]]
        verdicts = await asyncio.gather(*(c.think(ctx, round=r, key=f"p{i}a{attempt}") for c in panel))
        return _majority([v.output for v in verdicts])  # type: ignore[misc]

    def _unrevised(self, r: int, last: JobOutcome | None,
                   confirmations: list[JobOutcome]) -> tuple[Experiment, list[JobOutcome]] | None:
        if last is None:
            return None
        verdict = Verdict(decision="reject", reasons=["the critic asked for a revision that the budget did not "
                                                      "allow; unconfirmed results are not kept"])
        seeds = [c for c in confirmations if c.job_id != last.job_id]
        return self._record(r, last, verdict, seeds), seeds + [last]

    def _record(self, r: int, outcome: JobOutcome, verdict: Verdict, confirmations: list[JobOutcome]) -> Experiment:
        dev = outcome.dev_accuracy
        if confirmations and dev is not None:
            dev = statistics.fmean([c.dev_accuracy or 0.0 for c in confirmations] + [dev])
        exp = Experiment(job_id=outcome.job_id, config=outcome.config, seed=outcome.seed, status=outcome.status,
                         dev_accuracy=dev, verdict=verdict.decision, round=r)
        self.work.events.emit("verdict", round=r, job_id=outcome.job_id, decision=verdict.decision,
                              reasons=verdict.reasons, flags=verdict.flags, dev_accuracy=dev)
        return exp

    # -- merging, one round at a time --------------------------------------------------------------
    async def _merge(self, r: int, results: list[tuple[Experiment, list[JobOutcome]]]) -> None:
        experiments = [e for e, _ in results]
        for _, seeds in results:
            self.merger.observe(seeds)
        self.state.experiments.extend(experiments)
        accepted = [e for e in experiments if e.verdict == "accept" and e.dev_accuracy is not None]
        await self.merger.merge_round(r, accepted)
        self.best_by_round[r] = self.merger.best_dev

    # -- solo: propose -> run -> keep if better, one job at a time --------------------------------------
    async def _solo_loop(self) -> None:
        last: JobOutcome | None = None
        for r in range(1, self.rounds + 1):
            ctx = SoloContext(task=self.card, round=r, history=tuple(self.state.experiments), last=last,
                              best_dev=self.merger.best_dev, rounds_left=self.rounds - r + 1, seed=self.seed,
                              instructions=self.planner.role.prompt)
            step = (await self.planner.think(ctx, round=r, key="step")).output
            if last is not None:
                await self._solo_keep(r - 1, last, step.keep_last)
            if step.stop or step.next is None or self.work.stopping:
                self.stop_reason = self.stop_reason or f"solo stopped: {step.reason or 'no next experiment'}"
                return
            config = self._clean(step.next.config) or {}
            seed = self.seed + r
            last = await self.work.run_recipe(job_key(r, 0, 0, config, seed), config, seed, self.job_seconds,
                                              agent=self.planner.replica, role=self.planner.role.name, round=r,
                                              attempt=0, parent=None)
            if last is None:
                break
        if last is not None:
            await self._solo_keep(self.rounds, last, _improves(last, self.merger.best_dev))

    async def _solo_keep(self, r: int, outcome: JobOutcome, keep: bool) -> None:
        verdict = Verdict(decision="accept" if keep and outcome.status == "ok" else "reject",
                          reasons=["kept: beats the best so far" if keep else "discarded: not better"])
        await self._merge(r, [(self._record(r, outcome, verdict, []), [outcome])])

    # -- reporting ---------------------------------------------------------------------------------
    def all_runners(self) -> list[AgentRunner]:
        seen: dict[int, AgentRunner] = {}
        for r in [self.planner, *self.engineers, *self.critics, *self.extra_runners]:
            seen.setdefault(id(r), r)
        return list(seen.values())

    def fallbacks(self) -> int:
        return sum(1 for r in self.all_runners() for f in r.faults if "fallback" in f)

    def job_counts(self) -> dict[str, int]:
        return dict(Counter(e.status for e in self.state.experiments)) | {
            "accepted": sum(e.verdict == "accept" for e in self.state.experiments)}

    def busy_share(self, ledger: Any) -> float | None:
        window = ledger.elapsed() * self.work.capacity
        return round(min(self.work.busy_seconds / window, 1.0), 4) if window > 0 else None

    # -- helpers -----------------------------------------------------------------------------------
    def _history(self, upto: int) -> list[Experiment]:
        return [e for e in self.state.experiments if e.round <= upto]

    def _pending(self, r: int) -> list[Experiment]:
        return [Experiment(job_id=f"pending-r{r}p{i}", config=p.config, seed=self.seed, status="running",
                           dev_accuracy=None, round=r) for i, p in enumerate(self._plans.get(r, []))]

    def _plateau(self, upto: int) -> int:
        best, since = None, 0
        for r in range(1, upto + 1):
            value = self.best_by_round.get(r)
            if value is not None and (best is None or value > best + 1e-9):
                best, since = value, 0
            else:
                since += 1
        return since

    def _budget_left(self) -> dict[str, float]:
        ledger = self.work.ledger
        return {k: round(ledger.left(k), 3) for k in ledger.limits}

    def _clean(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """The config if every knob is known and in range (an LLM may propose nonsense), else None."""
        knobs = self.work.prepared.task.knobs
        try:
            for name, value in config.items():
                if name not in knobs:
                    raise ValueError(f"unknown knob {name!r}")
                knobs[name].validate(value)
        except (ValueError, TypeError) as exc:
            self.work.events.emit("invalid_config", config=dict(config), error=str(exc))
            return None
        return {k: v for k, v in config.items() if k != "seed"}

    def _valid(self, proposals: list[Proposal], r: int) -> list[Proposal]:
        seen = {_canon(e.config) for e in self._history(upto=r - 2)} | {
            _canon(p.config) for plan in self._plans.values() for p in plan}
        out = []
        for p in proposals:
            config = self._clean(p.config)
            if config is None or _canon(config) in seen:
                continue
            seen.add(_canon(config))
            out.append(Proposal(config=config, rationale=p.rationale))
        return out


def _canon(config: Mapping[str, Any]) -> str:
    return repr(sorted((k, config[k]) for k in config if k != "seed"))


def _majority(verdicts: list[Verdict]) -> Verdict:
    if len(verdicts) == 1:
        return verdicts[0]
    if any(v.flags for v in verdicts):  # an integrity veto from any panel member stands
        return next(v for v in verdicts if v.flags)
    counts = Counter(v.decision for v in verdicts)
    top = max(counts.values())
    decision = next(d for d in ("reject", "revise", "accept") if counts.get(d) == top)  # ties: the cautious one
    chosen = next(v for v in verdicts if v.decision == decision)
    reasons = [f"panel {dict(counts)}"] + [r for v in verdicts for r in v.reasons]
    return chosen.model_copy(update={"reasons": reasons})


def _improves(outcome: JobOutcome, best: float | None) -> bool:
    return outcome.status == "ok" and outcome.dev_accuracy is not None and (best is None or outcome.dev_accuracy > best)


def _flags(work: Workshop, outcome: JobOutcome) -> tuple[str, ...]:
    if outcome.status != "ok":
        return ()
    model = work.jobs_dir / outcome.job_id / "final_model"
    return () if model.is_dir() else ("the job reported ok but left no final_model/",)


def _set_event() -> asyncio.Event:
    e = asyncio.Event()
    e.set()
    return e


async def _first(*aws: Any, all_of: int = 1) -> None:
    """Wait until the first `all_of` awaitables are all done, or any later one is done."""
    futures = [asyncio.ensure_future(a) for a in aws]
    group, rest = asyncio.gather(*futures[:all_of]), futures[all_of:]
    await asyncio.wait([group, *rest], return_when=asyncio.FIRST_COMPLETED)
    for f, a in zip(futures, aws, strict=True):
        if not f.done() and not isinstance(a, asyncio.Future):
            f.cancel()
    group.cancel() if not group.done() else None
