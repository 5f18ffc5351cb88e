"""Agents that run their own experiments: the solo agent and the samplers (random search, TPE, the
reference recipe). Each keeps `parallel` lanes of experiments in flight (0: one per job slot). A lane's
result travels the agent's edges (normally its own loop, `solo -> solo`), and the step that receives it
decides whether to keep it — the harness then installs it as the final model if it is the best so far —
and what to run next. Steps and trial numbers depend on (lane, step) only, seeds on the config the step
chose, so a resumed run replays the same calls and jobs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from roles.context import Experiment, JobOutcome, SamplerContext, SoloContext
from roles.schemas import Plan, Proposal, SoloStep
from team.engine.acts.table import handles, role_state
from team.engine.flow.context import ActContext
from team.engine.flow.messages import Candidate, Message, ResultPayload
from team.engine.records import catalog as ev
from team.engine.work.tree import ROOT
from team.engine.work.workshop import config_seed, job_key

__all__ = ["entry_selfrun", "next_step", "Lanes", "MAX_FAILS_IN_A_ROW"]

MAX_FAILS_IN_A_ROW = 5  # a sampler whose jobs keep failing would otherwise burn the budget in tiny steps


@role_state("solo", "sampler")
@dataclass
class Lanes:
    """What self-running agents share in a run: experiments started (at most `stop.rounds`), the config each
    lane is running, and each replica's failed jobs in a row."""

    steps: int = 0
    pending: dict[tuple[str, int], dict] = field(default_factory=dict)  # (replica, lane) -> config it runs
    fails: dict[str, int] = field(default_factory=dict)


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


def lanes_of(ctx: ActContext) -> int:
    return int(ctx.actor.role.settings.get("parallel") or ctx.work.capacity)


@handles("solo", "start")
@handles("sampler", "start")
async def entry_selfrun(ctx: ActContext, msg: Message) -> None:
    n = lanes_of(ctx)
    await asyncio.gather(*(_go(ctx, _Step(lane, 1, n, None, {}), None) for lane in range(n)))


@handles("solo", "result")
@handles("sampler", "result")
async def next_step(ctx: ActContext, msg: Message) -> None:
    """Its own result came back along an edge: judge it, then take the lane's next step."""
    p: ResultPayload = msg.payload
    await _go(ctx, _Step(msg.lane, msg.round + 1, lanes_of(ctx), msg.id, msg.loops), p.outcome)


def trial_seed(ctx: ActContext, at: _Step, config: dict | None) -> int:
    """A trial's training seed: its config's in this run (`config_seed`), so an experiment another arm of the
    cell also runs trains the same model there and here. Every lane of a solo agent starts from the prior: the
    first step of a lane after the first trains it with a seed of its own (later steps never repeat a config)."""
    salt = at.lane if at.step == 1 and at.lane > 0 else 0
    return config_seed(ctx.seed, config or {}, ctx.work.prepared.task.defaults(), salt)


async def _go(ctx: ActContext, at: _Step, last: JobOutcome | None) -> None:
    actor, lanes, rounds = ctx.actor, ctx.state, ctx.team.rounds
    config, why = await (_solo if actor.role.kind == "solo" else _sampler)(ctx, at, last)
    seed = trial_seed(ctx, at, config)
    key = job_key(actor.replica, at.lane, at.step, config, seed)
    if config is None or ctx.work.stopping and key not in ctx.work.memo or lanes.steps >= rounds:
        ctx.note_stop(why or ("budget" if ctx.work.stopping else f"{rounds} experiments"))
        return
    lanes.steps += 1
    parent = at.parent or f"lane:{actor.replica}:{at.lane}"
    node = ctx.tree.add(ROOT, _constants(ctx, config, seed), "tune", actor.replica, at.step, parent, same_code=True)
    outcome = await ctx.work.run_solution(key, ctx.tree.solution(node.id), config, seed, ctx.job_seconds,
                                          agent=actor.replica, role=actor.role.name, round=at.step, attempt=0,
                                          parent=parent, node=node.id)
    if outcome is None:
        return
    ctx.tree.scored(node.id, outcome, parent)
    ctx.board.finished(outcome)
    lanes.pending.pop((actor.replica, at.lane), None)
    result = ResultPayload(outcome, Proposal(config=config, rationale=why or ""), 0, (), actor.replica)
    sent = ctx.send("result", result, round=at.step, lane=at.lane, parent=parent, loops=at.loops)
    if not sent:  # nowhere to go (no loop edge, or its max_loops used up): the harness judges it alone
        await _keep(ctx, at, outcome, _scored(outcome), "the lane ends here: kept if it is the best so far",
                    at.number, round=at.step)


async def _solo(ctx: ActContext, at: _Step, last: JobOutcome | None) -> tuple[dict | None, str]:
    actor, lanes = ctx.actor, ctx.state
    if ctx.work.stopping and not actor.runner.remembers(at.step, f"l{at.lane}"):
        if last is not None:  # no model call for a step that cannot run: keep what improves
            await _keep(ctx, at, last, _scored(last), "the budget ended the run: kept if it is the best so far",
                        at.number - at.lanes)
        return None, "budget"
    history = tuple(e for _, e in actor.memory.ordered())
    pending = tuple(c for (who, _), c in sorted(lanes.pending.items()) if who == actor.replica)
    step_ctx = SoloContext(task=ctx.card, round=at.step, history=history, last=last, best_dev=ctx.merger.best_dev,
                           rounds_left=max(ctx.team.rounds - lanes.steps, 0), seed=ctx.seed,
                           instructions=actor.role.prompt, settings=dict(actor.role.settings), pending=pending,
                           budget_left=ctx.budget_left())
    step: SoloStep = (await actor.runner.think(step_ctx, round=at.step, key=f"l{at.lane}", parent=at.parent,
                                               handler="step")).output
    if last is not None:
        await _keep(ctx, at, last, step.keep_last, step.reason, at.number - at.lanes)
    if step.stop or step.next is None:
        return None, f"solo stopped: {step.reason or 'no next experiment'}"
    config = ctx.clean_config(step.next.config, actor.replica) or {}
    lanes.pending[(actor.replica, at.lane)] = config
    return config, step.next.rationale


async def _sampler(ctx: ActContext, at: _Step, last: JobOutcome | None) -> tuple[dict | None, str]:
    actor, lanes = ctx.actor, ctx.state
    if last is not None:
        keep = _scored(last)  # the harness keeps the best (the earliest trial on ties)
        await _keep(ctx, at, last, keep, "scored: kept if it is the best so far" if keep else "no score",
                    at.number - at.lanes)
        fails = lanes.fails.get(actor.replica, 0) + 1 if last.status != "ok" else 0
        lanes.fails[actor.replica] = fails
        if fails >= MAX_FAILS_IN_A_ROW:
            return None, f"{MAX_FAILS_IN_A_ROW} failed jobs in a row"
    if ctx.work.stopping and not actor.runner.remembers(at.step, f"t{at.number}"):
        return None, "budget"
    finished = tuple(e for _, e in actor.memory.ordered())
    pending = tuple(c for (who, _), c in sorted(lanes.pending.items()) if who == actor.replica)
    trial_ctx = SamplerContext(task=ctx.card, number=at.number, n=1, finished=finished, pending=pending, seed=ctx.seed,
                               settings=dict(actor.role.settings), instructions=actor.role.prompt)
    plan: Plan = (await actor.runner.think(trial_ctx, round=at.step, key=f"t{at.number}", parent=at.parent,
                                           handler="trials")).output
    if plan.stop or not plan.proposals:
        return None, plan.reason or "the sampler stopped"
    config = ctx.clean_config(plan.proposals[0].config, actor.replica) or {}
    lanes.pending[(actor.replica, at.lane)] = config
    return config, plan.proposals[0].rationale


async def _keep(ctx: ActContext, at: _Step, o: JobOutcome, keep: bool, why: str, order: int,
                round: int | None = None) -> None:
    """The agent's own verdict on its last result; a kept one becomes the final model when it is the best."""
    actor = ctx.actor
    ok = keep and _scored(o)
    r = at.step - 1 if round is None else round
    e = Experiment(o.job_id, o.config, o.seed, o.status, o.dev_accuracy, "accept" if ok else "reject", r, o.dev_curve)
    actor.memory.learned[o.job_id] = (r, e)
    ctx.board.judged(e)
    ctx.events.emit(ev.VERDICT, round=r, job_id=o.job_id, decision=e.verdict, reasons=[why], flags=[],
                    dev_accuracy=o.dev_accuracy, agent=actor.replica, parent=at.parent, subject="result")
    if ok:
        await ctx.merger.install(Candidate(r, "best", (o.job_id,), o.dev_accuracy), agent=actor.replica,
                                 parent=at.parent, only_if_better=True, order=order)


def _constants(ctx: ActContext, config: dict, seed: int):
    """The starter with this trial's knob values as its constants (knob tuning is editing them)."""
    from tasks.solutions import constants, set_constants

    starter = ctx.tree.solution(ROOT)
    known = constants(starter)
    return set_constants(starter, {k: v for k, v in {**config, "seed": seed}.items() if k.upper() in known})


def _scored(o: JobOutcome) -> bool:
    return o.status == "ok" and o.dev_accuracy is not None
