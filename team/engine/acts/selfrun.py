"""Agents that run their own experiments: the solo agent and the samplers (random search, TPE, the
reference recipe). Each keeps `parallel` lanes of experiments in flight (0: one per job slot). A lane's
result travels the agent's edges (normally its own loop, `solo -> solo`), and the step that receives it
decides whether to keep it — the harness then installs it as the final model if it is the best so far —
and what to run next. Steps, trial numbers, seeds and job keys depend on (lane, step) only, so a resumed
run replays the same calls and jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roles.context import Experiment, JobOutcome, SamplerContext, SoloContext
from roles.schemas import Plan, SoloStep
from team.engine.acts.plan import budget_left, clean_config
from team.engine.flow.messages import Candidate, ResultPayload
from team.engine.records import catalog as ev
from team.engine.work.tree import ROOT
from team.engine.work.workshop import job_key

if TYPE_CHECKING:  # pragma: no cover
    from team.engine.flow.runtime import Actor, Runtime

__all__ = ["entry_selfrun", "next_step", "MAX_FAILS_IN_A_ROW"]

MAX_FAILS_IN_A_ROW = 5  # a sampler whose jobs keep failing would otherwise burn the budget in tiny steps


@dataclass(frozen=True)
class _Step:
    lane: int
    step: int
    lanes: int
    parent: str | None
    loops: Any

    @property
    def number(self) -> int:  # a sampler's trial number
        return (self.step - 1) * self.lanes + self.lane


def lanes_of(rt: Runtime, actor: Actor) -> int:
    return int(actor.role.settings.get("parallel") or rt.work.capacity)


async def entry_selfrun(rt: Runtime, agent: str) -> None:
    import asyncio

    actor = rt.replicas(agent)[0]
    n = lanes_of(rt, actor)
    await asyncio.gather(*(_go(rt, actor, _Step(lane, 1, n, None, {}), None) for lane in range(n)))


async def next_step(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    """Its own result came back along an edge: judge it, then take the lane's next step."""
    p: ResultPayload = msg.payload
    lanes = lanes_of(rt, actor)
    await _go(rt, actor, _Step(msg.lane, msg.round + 1, lanes, msg.id, msg.loops), p.outcome)


async def _go(rt: Runtime, actor: Actor, at: _Step, last: JobOutcome | None) -> None:
    if actor.role.kind == "solo":
        config, why = await _solo(rt, actor, at, last)
    else:
        config, why = await _sampler(rt, actor, at, last)
    seed = rt.seed * 1000 + at.number if actor.role.kind == "sampler" else rt.seed + at.number + 1
    key = job_key(actor.replica, at.lane, at.step, config, seed)
    if config is None or rt.work.stopping and key not in rt.work.memo or rt.steps >= rt.team.rounds:
        rt.note_stop(why or ("budget" if rt.work.stopping else f"{rt.team.rounds} experiments"))
        return
    rt.steps += 1
    parent = at.parent or f"lane:{actor.replica}:{at.lane}"
    node = rt.tree.add(ROOT, _constants(rt, config, seed), "tune", actor.replica, at.step, parent)
    outcome = await rt.work.run_solution(key, rt.tree.solution(node.id), config, seed, rt.job_seconds,
                                         agent=actor.replica, role=actor.role.name, round=at.step, attempt=0,
                                         parent=parent, node=node.id)
    if outcome is None:
        return
    rt.tree.scored(node.id, outcome, parent)
    rt.scoreboard.finished(outcome)
    rt.pending_configs.pop((actor.replica, at.lane), None)
    result = ResultPayload(outcome, _proposal(config, why), 0, (), actor.replica)
    sent = rt.send(actor, "result", result, round=at.step, lane=at.lane, parent=parent, loops=at.loops)
    if not sent:  # nowhere to go (no loop edge, or its max_loops used up): the harness judges it alone
        await _keep(rt, actor, at, outcome, _scored(outcome), "the lane ends here: kept if it is the best so far",
                    at.number, round=at.step)


async def _solo(rt: Runtime, actor: Actor, at: _Step, last: JobOutcome | None) -> tuple[dict | None, str]:
    if rt.work.stopping and not actor.runner.remembers(at.step, f"l{at.lane}"):
        if last is not None:  # no model call for a step that cannot run: keep what improves
            await _keep(rt, actor, at, last, _scored(last), "the budget ended the run: kept if it is the best so far",
                        at.number - at.lanes)
        return None, "budget"
    history = tuple(e for _, e in actor.memory.ordered())
    pending = tuple(c for (who, _), c in sorted(rt.pending_configs.items()) if who == actor.replica)
    ctx = SoloContext(task=rt.card, round=at.step, history=history, last=last, best_dev=rt.merger.best_dev,
                      rounds_left=max(rt.team.rounds - rt.steps, 0), seed=rt.seed, instructions=actor.role.prompt,
                      settings=dict(actor.role.settings), pending=pending, budget_left=budget_left(rt))
    step: SoloStep = (await actor.runner.think(ctx, round=at.step, key=f"l{at.lane}", parent=at.parent,
                                               handler="step")).output
    if last is not None:
        await _keep(rt, actor, at, last, step.keep_last, step.reason, at.number - at.lanes)
    if step.stop or step.next is None:
        return None, f"solo stopped: {step.reason or 'no next experiment'}"
    config = clean_config(rt, step.next.config, actor.replica) or {}
    rt.pending_configs[(actor.replica, at.lane)] = config
    return config, step.next.rationale


async def _sampler(rt: Runtime, actor: Actor, at: _Step, last: JobOutcome | None) -> tuple[dict | None, str]:
    if last is not None:
        keep = _scored(last)  # the harness keeps the best (the earliest trial on ties)
        await _keep(rt, actor, at, last, keep, "scored: kept if it is the best so far" if keep else "no score",
                    at.number - at.lanes)
        fails = rt.fails.get(actor.replica, 0) + 1 if last.status != "ok" else 0
        rt.fails[actor.replica] = fails
        if fails >= MAX_FAILS_IN_A_ROW:
            return None, f"{MAX_FAILS_IN_A_ROW} failed jobs in a row"
    if rt.work.stopping and not actor.runner.remembers(at.step, f"t{at.number}"):
        return None, "budget"
    finished = tuple(e for _, e in actor.memory.ordered())
    pending = tuple(c for (who, _), c in sorted(rt.pending_configs.items()) if who == actor.replica)
    ctx = SamplerContext(task=rt.card, number=at.number, n=1, finished=finished, pending=pending, seed=rt.seed,
                         settings=dict(actor.role.settings), instructions=actor.role.prompt)
    plan: Plan = (await actor.runner.think(ctx, round=at.step, key=f"t{at.number}", parent=at.parent,
                                           handler="trials")).output
    if plan.stop or not plan.proposals:
        return None, plan.reason or "the sampler stopped"
    config = clean_config(rt, plan.proposals[0].config, actor.replica) or {}
    rt.pending_configs[(actor.replica, at.lane)] = config
    return config, plan.proposals[0].rationale


async def _keep(rt: Runtime, actor: Actor, at: _Step, o: JobOutcome, keep: bool, why: str, order: int,
                round: int | None = None) -> None:
    """The agent's own verdict on its last result; a kept one becomes the final model when it is the best."""
    ok = keep and _scored(o)
    r = at.step - 1 if round is None else round
    e = Experiment(o.job_id, o.config, o.seed, o.status, o.dev_accuracy, "accept" if ok else "reject", r, o.dev_curve)
    actor.memory.learned[o.job_id] = (r, e)
    rt.judged(e)
    rt.work.events.emit(ev.VERDICT, round=r, job_id=o.job_id, decision=e.verdict, reasons=[why],
                        flags=[], dev_accuracy=o.dev_accuracy, agent=actor.replica, parent=at.parent, subject="result")
    if ok:
        await rt.merger.install(Candidate(r, "best", (o.job_id,), o.dev_accuracy), agent=actor.replica,
                                parent=at.parent, only_if_better=True, order=order)


def _constants(rt: Runtime, config: dict, seed: int):
    """The starter with this trial's knob values as its constants (knob tuning is editing them)."""
    from tasks.solutions import constants, set_constants

    starter = rt.tree.solution(ROOT)
    known = constants(starter)
    return set_constants(starter, {k: v for k, v in {**config, "seed": seed}.items() if k.upper() in known})


def _scored(o: JobOutcome) -> bool:
    return o.status == "ok" and o.dev_accuracy is not None


def _proposal(config: dict, why: str):
    from roles.schemas import Proposal

    return Proposal(config=config, rationale=why or "")
