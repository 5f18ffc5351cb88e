"""Directors at work: an entry director (or an entry engineer) plans its rounds; a sub-director plans within
the share its parent sent; a director whose plan a critic sent back plans it again; every planner learns
from the logs, verdicts and results that reach it.

Round r is planned once round r-1 holds its job slots and round r-2 has settled, from what the planner
learned up to round r-2 and what it proposed up to round r-1 (once round r-1 has settled too when only
what its running jobs hold stands between the planner and another job). A planner plans at most `stop.rounds`
rounds, and at most max_loops + 1 when a bounded loop-back brings it feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from roles.checks import as_proposed
from roles.context import DirectorContext, Knob
from roles.schemas import Plan, Proposal
from roles.search import canonical
from team.engine.acts.table import handles
from team.engine.flow.context import ActContext, Actor
from team.engine.flow.messages import Message, PlanPayload, VerdictPayload
from team.engine.records import catalog as ev

__all__ = ["plan_rounds", "subplan", "director_verdict", "learn", "round_limit", "planner_context"]


def round_limit(ctx: ActContext, agent: str) -> int:
    """stop.rounds, and max_loops + 1 for a bounded loop-back into the planner that carries feedback."""
    loops = [e.max_loops for e in ctx.team.in_edges(agent) if e.loop_back and e.max_loops
             and (e.when is None or set(e.when) - {"revise"})]
    return min([ctx.team.rounds, *[n + 1 for n in loops]])


@handles("director", "start")
async def entry_director(ctx: ActContext, msg: Message) -> None:
    await plan_rounds(ctx)


async def plan_rounds(ctx: ActContext, run_own: Callable[[PlanPayload, int, str], None] | None = None) -> None:
    """An entry director's (or engineer's) rounds; `run_own(plan, r, parent)` runs the plan itself (an
    entry engineer) instead of sending it along the edges."""
    actor = ctx.actor
    agent = actor.agent
    for r in range(1, round_limit(ctx, agent) + 1):
        await ctx.rounds.wait_taken(r - 1)
        await ctx.rounds.wait_settled(r - 2)
        if ctx.work.share.held_by_running_jobs():  # near the end, plan on what round r-1 hands back, not on
            await ctx.rounds.wait_settled(r - 1)  # what its jobs hold: a team uses the budget it was given
        if ctx.work.stopping and not actor.runner.remembers(r, "plan"):  # a resumed run still replays
            return
        parent = actor.memory.last_heard(r - 2) or f"round:{agent}:{r}"
        async with ctx.board.planning:  # a lab plans knowing what the others proposed
            plan_ctx = planner_context(ctx, r, ctx.capacity(agent) or len(ctx.replicas(agent)))
            plan: Plan = (await actor.runner.think(plan_ctx, round=r, key="plan", parent=parent,
                                                   handler="plan")).output
            proposals = [] if plan.stop else valid_proposals(ctx, plan.proposals, r)
            ctx.board.proposed(r, proposals, by=agent)
        if plan.stop:
            ctx.note_stop(f"the {actor.role.name} stopped: {plan.reason}")
            return
        if not proposals:
            ctx.note_stop(f"the {actor.role.name} proposed nothing new in round {r}")
            return
        actor.memory.proposed[r] = proposals
        payload = PlanPayload(tuple(proposals), plan.reason)
        if run_own is not None:
            run_own(payload, r, parent)
        else:
            ctx.send("start", payload, round=r, lane=0, parent=parent)
        ctx.rounds.planned(agent, r)
    ctx.note_stop(f"{round_limit(ctx, agent)} rounds")


def planner_context(ctx: ActContext, r: int, n: int, *, share: tuple = (), review: tuple = (),
                    fix: Mapping[str, Any] | None = None) -> DirectorContext:
    actor = ctx.actor
    mem = actor.memory
    return DirectorContext(task=ctx.card, round=r, n_proposals=n, history=mem.history(r), best_dev=mem.best_dev(r - 2),
                           rounds_left=round_limit(ctx, actor.agent) - r + 1, plateau=mem.plateau(r - 2),
                           plateau_limit=ctx.team.plateau or ctx.team.rounds, seed=_seed(ctx, actor.agent),
                           budget_left=ctx.budget_left(), instructions=actor.role.prompt,
                           settings=dict(actor.role.settings), share=share, review=review, fix=dict(fix or {}),
                           log=mem.log_entries(r - 2), claimed=ctx.board.claimed_by_others(actor.agent),
                           agent=actor.agent)


@handles("director", "plan")
async def subplan(ctx: ActContext, msg: Message) -> None:
    """A sub-director: plan within the share of the parent's plan that reached it."""
    actor = ctx.actor
    await ctx.rounds.wait_settled(msg.round - 2)
    share = tuple(p.config for p in msg.payload.proposals)
    n = ctx.capacity(actor.agent) or len(share)
    async with ctx.board.planning:
        plan_ctx = planner_context(ctx, msg.round, n, share=share)
        plan: Plan = (await actor.runner.think(plan_ctx, round=msg.round, key=msg.id, parent=msg.id,
                                               handler="subplan")).output
        proposals = [] if plan.stop else valid_proposals(ctx, plan.proposals, msg.round)
        ctx.board.proposed(msg.round, proposals, by=actor.agent)
    if not proposals:
        ctx.events.emit(ev.PLAN_DROPPED, agent=actor.replica, parent=msg.id, round=msg.round,
                        reason=plan.reason or "no valid proposal")
        return
    actor.memory.proposed.setdefault(msg.round, []).extend(proposals)
    ctx.send("plan", PlanPayload(tuple(proposals), plan.reason), round=msg.round, lane=0, parent=msg.id,
             loops=msg.loops)


@handles("director", "verdict")
async def director_verdict(ctx: ActContext, msg: Message) -> None:
    """A plan critic sent this director's plan back (revise): plan the round again, with its reasons."""
    payload: VerdictPayload = msg.payload
    if not (isinstance(payload.subject, PlanPayload) and payload.verdict.decision == "revise"):
        learn(ctx, msg)
        return
    actor, old = ctx.actor, payload.subject
    async with ctx.board.planning:
        plan_ctx = planner_context(ctx, msg.round, len(old.proposals), review=tuple(payload.verdict.reasons),
                                   fix=payload.verdict.fix)
        plan: Plan = (await actor.runner.think(plan_ctx, round=msg.round, key=msg.id, parent=msg.id,
                                               handler="plan")).output
        proposals = valid_proposals(ctx, plan.proposals, msg.round) or list(old.proposals)
        ctx.board.proposed(msg.round, proposals, by=actor.agent)
    actor.memory.proposed[msg.round] = proposals
    ctx.send("start", PlanPayload(tuple(proposals), plan.reason, old.revisions + 1), round=msg.round, lane=0,
             parent=msg.id, loops=msg.loops)


def learn(ctx: ActContext, msg: Message) -> None:
    ctx.actor.memory.learn(msg.round, msg.id, msg.payload)


@handles("director", "log", "result")
@handles("engineer", "log")
@handles("solo", "log", "verdict")
async def learn_act(ctx: ActContext, msg: Message) -> None:
    learn(ctx, msg)


def valid_proposals(ctx: ActContext, proposals: list[Proposal], r: int) -> list[Proposal]:
    """Proposals with known, in-range knobs that repeat nothing this planner proposed or learned before."""
    actor: Actor = ctx.actor
    knobs = ctx.card.knobs
    seen = {_canon(e.config, knobs, *as_proposed(e)) for e in actor.memory.history(r)}
    out = []
    for p in proposals:
        config = ctx.clean_config(p.config, agent=actor.replica)
        key = _canon(config or {}, knobs, p.node, p.operator)
        if config is None or key in seen:
            continue
        seen.add(key)
        out.append(Proposal(config=config, rationale=p.rationale, node=p.node, operator=p.operator))
    return out


def _seed(ctx: ActContext, agent: str) -> int:
    """Entry agents plan independently: each after the first gets a seed of its own."""
    entries = list(ctx.team.entries)
    return ctx.seed + 1000 * entries.index(agent) if agent in entries else ctx.seed


def _canon(config: Mapping[str, Any], knobs: Sequence[Knob], node: str = "starter", operator: str = "tune") -> str:
    """One key per experiment: a knob left out and the same knob at its default are one config, and so are
    configs that differ only in a knob its `when:` leaves inert."""
    return repr((node, operator, canonical(config, knobs)))
