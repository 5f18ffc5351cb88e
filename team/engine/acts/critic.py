"""Critics at work: a verdict on whatever reaches them — a job's result, a plan before its jobs run, a
merge before it becomes the final model. A broadcast edge into a critic makes every replica review; their
verdicts are combined (an integrity flag from any member vetoes; otherwise the majority; ties go to the
cautious decision, reject before revise before accept) and travel on once, from the agent.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from roles.context import CriticContext, Experiment, MergeReviewContext, PlanReviewContext
from roles.schemas import Verdict
from roles.settings import routed_as
from team.engine.acts.table import handles, role_state
from team.engine.flow.context import ActContext
from team.engine.flow.messages import Message, ResultPayload, VerdictPayload
from team.engine.records import catalog as ev
from team.engine.work.scoreboard import pooled_dev

__all__ = ["review_result", "review_plan", "review_merge", "majority", "revisions_left", "Panels"]


@role_state("critic")
@dataclass
class Panels:
    """A broadcast panel's votes so far: `edge index:message` -> {replica: (verdict, message)}."""

    votes: dict[str, dict[str, tuple[Verdict, Message]]] = field(default_factory=dict)


@handles("critic", "result")
async def review_result(ctx: ActContext, msg: Message) -> None:
    await ctx.rounds.wait_settled(msg.round - 1)  # the scoreboard (best dev, noise) as of the last settled round
    actor, p = ctx.actor, msg.payload
    node = p.outcome.node if p.outcome.node in ctx.tree.nodes else None
    review = CriticContext(task=ctx.card, round=msg.round, outcome=p.outcome, best_dev=ctx.merger.best_dev,
                           noise=ctx.merger.noise, confirmations=p.confirmations, flags=_flags(ctx, p),
                           revisions_left=revisions_left(ctx, actor.agent, msg.loops), instructions=actor.role.prompt,
                           settings=dict(actor.role.settings), diff=ctx.tree.diff(node) if node else "",
                           budget_left=ctx.budget_left())
    verdict = (await actor.runner.think(review, round=msg.round, key=msg.id, parent=msg.id, handler="result")).output
    await _decided(ctx, msg, verdict, "result")


@handles("critic", "plan")
async def review_plan(ctx: ActContext, msg: Message) -> None:
    actor, p = ctx.actor, msg.payload
    review = PlanReviewContext(task=ctx.card, round=msg.round, proposals=tuple(q.config for q in p.proposals),
                               rationales=tuple(q.rationale for q in p.proposals), tried=ctx.board.tried_before(msg.round),
                               revisions_left=revisions_left(ctx, actor.agent, msg.loops),
                               instructions=actor.role.prompt, settings=dict(actor.role.settings))
    verdict = (await actor.runner.think(review, round=msg.round, key=msg.id, parent=msg.id, handler="plan")).output
    await _decided(ctx, msg, verdict, "plan")


@handles("critic", "merge")
async def review_merge(ctx: ActContext, msg: Message) -> None:
    actor, c, merger = ctx.actor, msg.payload.candidate, ctx.merger
    review = MergeReviewContext(task=ctx.card, round=msg.round, policy=c.policy, members=c.members,
                                candidate_dev=c.dev, current=merger.members, current_dev=merger.final_dev,
                                member_devs=c.member_devs, noise=merger.noise,
                                revisions_left=revisions_left(ctx, actor.agent, msg.loops),
                                instructions=actor.role.prompt, settings=dict(actor.role.settings))
    verdict = (await actor.runner.think(review, round=msg.round, key=msg.id, parent=msg.id, handler="merge")).output
    await _decided(ctx, msg, verdict, "merge")


async def _decided(ctx: ActContext, msg: Message, verdict: Verdict, subject: str) -> None:
    """One replica's verdict: into its panel when it came by broadcast, else on its way."""
    actor, team = ctx.actor, ctx.team
    edge = next((e for e in team.in_edges(actor.agent) if e.name == msg.edge), None)
    if edge is not None and edge.broadcast and team.agents[actor.agent].replicas > 1:
        votes = ctx.state.votes.setdefault(f"{edge.index}:{msg.parent}", {})
        votes[actor.replica] = (verdict, msg)
        if len(votes) < team.agents[actor.agent].replicas:
            return
        ordered = [votes[name] for name in team.agents[actor.agent].replica_names()]
        verdict, counts = majority([v for v, _ in ordered])
        await _route(ctx, actor.agent, ordered[0][1], verdict, subject, counts)  # the first member's message: stable
    else:
        await _route(ctx, actor.replica, msg, verdict, subject, {})


async def _route(ctx: ActContext, who: str, msg: Message, verdict: Verdict, subject: str, panel: dict) -> None:
    payload = msg.payload
    experiment = None
    if subject == "result":
        o = payload.outcome
        dev = pooled_dev(o, payload.confirmations)
        ops = ctx.tree.node(o.node).operators if o.node in ctx.tree.nodes else ()
        experiment = Experiment(o.job_id, o.config, o.seed, o.status, dev, verdict.decision, msg.round, o.node, ops,
                                o.dev_curve)
        ctx.board.judged(experiment)
        ctx.tree.judged(o.job_id, verdict.decision)
        if verdict.decision != "revise" and payload.confirmations:
            _observe(ctx, msg.round, list(payload.confirmations) + [o])
        ctx.events.emit(ev.VERDICT, round=msg.round, job_id=o.job_id, decision=verdict.decision,
                        reasons=verdict.reasons, flags=verdict.flags, dev_accuracy=dev, agent=who,
                        parent=msg.id, subject="result", **_extra(verdict, panel))
    else:
        ctx.events.emit(ev.VERDICT, round=msg.round, decision=verdict.decision, reasons=verdict.reasons,
                        agent=who, parent=msg.id, subject=subject, **_extra(verdict, panel))
    if subject == "merge":
        await _sign_off(ctx, who, msg, verdict)
    out = VerdictPayload(verdict, payload, experiment, panel)
    sender = ctx.actor if who == ctx.actor.replica else who  # a panel's verdict comes from its agent
    ctx.send(subject, out, round=msg.round, lane=msg.lane, parent=msg.id, loops=msg.loops, sender=sender)


def _observe(ctx: ActContext, round: int, seeds: list) -> None:
    """Seeds of one config join the noise estimate at the round's merge step (when the run has rounds)."""
    if ctx.rounds.enabled:
        ctx.board.observe_later(round, seeds)
    else:
        ctx.merger.observe(seeds)


async def _sign_off(ctx: ActContext, who: str, msg: Message, verdict: Verdict) -> None:
    """An accepted merge becomes the final model; a rejected one is dropped (a revised one goes back)."""
    c = msg.payload.candidate
    if verdict.decision == "accept":
        await ctx.merger.install(c, agent=who, parent=msg.id, signed_by=who)
    elif verdict.decision == "reject":
        ctx.merger.note(c, changed=False, agent=who, parent=msg.id, rejected_by=who)


def majority(verdicts: list[Verdict]) -> tuple[Verdict, dict[str, int]]:
    counts = dict(Counter(v.decision for v in verdicts))
    if len(verdicts) == 1:
        return verdicts[0], counts
    if any(v.flags for v in verdicts):  # an integrity veto from any panel member stands
        return next(v for v in verdicts if v.flags), counts
    top = max(counts.values())
    decision = next(d for d in ("reject", "revise", "accept") if counts.get(d) == top)  # ties: the cautious one
    chosen = next(v for v in verdicts if v.decision == decision)
    reasons = [f"panel {counts}"] + [r for v in verdicts for r in v.reasons]
    return chosen.model_copy(update={"reasons": reasons}), counts


def _extra(verdict: Verdict, panel: dict) -> dict:
    return {**({"label": verdict.label} if verdict.label else {}), **({"panel": panel} if panel else {})}


def revisions_left(ctx: ActContext, agent: str, loops: Any) -> int:
    """How many more times this lineage may be sent back along the critic's revise edges (those whose `when`
    names revise, or a label that means revise)."""
    left = 0
    revise = routed_as(ctx.team.agents[agent].settings, "revise")
    for e in ctx.team.out_edges(agent):
        if "verdict" in e.kinds and (e.when is None or revise & set(e.when)):
            left = max(left, (e.max_loops or 0) - loops.get(e.index, 0) if e.loop_back else 1)
    return max(left, 0)


def _flags(ctx: ActContext, p: ResultPayload) -> tuple[str, ...]:
    """What the harness found: a printed dev score that differs from its own, a missing final model."""
    o = p.outcome
    found = tuple(f for f in o.flags if f.startswith("reported_dev_differs"))
    if o.status != "ok":
        return found
    model = os.path.join(ctx.work.jobs_dir, o.job_id, "final_model")  # a stat per review; pathlib doubled its cost
    return found if os.path.isdir(model) else found + ("the job reported ok but left no final_model/",)
