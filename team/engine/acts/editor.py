"""The editor at work, and the harness's own merge for teams without one.

Accepted results that reach an editor wait for their round to settle; then the editor decides how
everything accepted so far becomes the final model (one decision per round, rounds in order), the merger
builds and scores the candidate, and the editor writes the round's research-log entry. With an edge to a
critic, the candidate goes there as a `merge` for sign-off and becomes the final model only on its accept
(a `revise` comes back to the editor with the reasons); without one it is installed at once and the log
goes along the editor's other edges. A team with no editor keeps the best accepted result of each round
by the team's merge policy (the harness does it, with the editor's scripted policy; no message).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from groundwork.errors import BudgetExhausted
from roles.context import EditorContext, Experiment
from roles.schemas import MergeDecision
from team.engine.acts.table import handles, role_state
from team.engine.flow.context import ActContext
from team.engine.flow.messages import (
    Candidate,
    LogPayload,
    MergePayload,
    Message,
    ResultPayload,
    VerdictPayload,
)
from team.engine.records import catalog as ev

__all__ = ["park", "editor_verdict", "round_end", "propose", "Parked"]


@role_state("editor")
@dataclass
class Parked:
    """Accepted results waiting for their round to settle: (editor agent, round) -> messages."""

    results: dict[tuple[str, int], list[Message]] = field(default_factory=dict)


@handles("editor", "result")
async def park(ctx: ActContext, msg: Message) -> None:
    ctx.state.results.setdefault((ctx.actor.agent, msg.round), []).append(msg)


@handles("editor", "verdict")
async def editor_verdict(ctx: ActContext, msg: Message) -> None:
    """A verdict reaching an editor: on a result it is material for the round's merge; on the editor's own
    merge, a `revise` asks for another candidate."""
    v: VerdictPayload = msg.payload
    if not isinstance(v.subject, MergePayload):
        await park(ctx, msg)
        return
    if v.verdict.decision != "revise":
        return
    old = v.subject
    c = await propose(ctx, msg.round, [], key=msg.id, parent=msg.id, review=tuple(v.verdict.reasons),
                      policy=v.verdict.fix.get("policy"))
    if c is not None:
        ctx.send("verdict", MergePayload(c, old.revisions + 1), round=msg.round, lane=0, parent=msg.id,
                 loops=msg.loops)


async def round_end(ctx: ActContext, r: int) -> None:
    """The merge step of a settled round (`ctx`: the harness's): the round's seed groups join the noise
    estimate, then each editor merges (the harness, when the team has none)."""
    for seeds in ctx.board.observations(r):
        ctx.merger.observe(seeds)
    editors = [a for a in ctx.team.agents.values() if a.kind == "editor"]
    if not editors:
        await _harness_merge(ctx, r)
        return
    for agent in editors:
        await _editor_merge(ctx.context_of(ctx.replicas(agent.name)[0].replica), r)


async def propose(ctx: ActContext, r: int, new: list[Experiment], *, key: str, parent: str | None = None,
                  review: tuple[str, ...] = (), policy: str | None = None) -> Candidate | None:
    """The editor's decision (`ctx.actor`; None: the harness's, by the team's policy) on everything accepted
    so far, built and scored by the merger; None: nothing to merge."""
    merger, actor = ctx.merger, ctx.actor
    if not merger.take(new):
        return None
    ranked = merger.ranked()
    decide = EditorContext(task=ctx.card, round=r, policy=policy or merger.policy, accepted=tuple(ranked),
                           current=merger.members, current_dev=merger.final_dev, noise=merger.noise,
                           instructions=actor.role.prompt if actor else "",
                           settings=dict(actor.role.settings) if actor else {}, review=review)
    decision = await _decide(ctx, decide, r, key, parent)
    return await merger.build(r, decision, ranked, (actor.replica if actor else "harness", parent))


async def _decide(ctx: ActContext, decide: EditorContext, r: int, key: str, parent: str | None) -> MergeDecision:
    from roles.policies import POLICIES

    actor = ctx.actor
    if actor is not None:
        try:
            return (await actor.runner.think(decide, round=r, key=key, parent=parent)).output
        except BudgetExhausted as exc:  # the run is over; what was accepted still becomes the final model
            ctx.work.stop_new_jobs()
            ctx.events.emit(ev.MERGE_BY_HARNESS, round=r, agent=actor.replica, parent=parent,
                            reason=f"no model call left for the editor ({exc}): the harness merges by the team's "
                                   "policy")
    return POLICIES["editor"](decide)


async def _editor_merge(ctx: ActContext, r: int) -> None:
    actor = ctx.actor
    msgs = sorted(ctx.state.results.pop((actor.agent, r), []), key=lambda m: m.id)
    new = [e for e in (_accepted(m) for m in msgs) if e is not None]
    parent = msgs[0].id if msgs else None
    c = await propose(ctx, r, new, key="merge", parent=parent, policy=actor.role.settings.get("policy"))
    if c is None:
        return
    parents = tuple(m.id for m in msgs)
    signed = any("merge" in e.kinds for e in ctx.team.out_edges(actor.agent))
    if signed:
        ctx.send("verdict", MergePayload(c), round=r, lane=0, parent=parent, parents=parents)
    else:
        await ctx.merger.install(c, agent=actor.replica, parent=parent)
    log = LogPayload(r, c.log, tuple(new), c.members, ctx.merger.best_dev)
    ctx.send("verdict", log, round=r, lane=0, parent=parent, parents=parents)


def _accepted(msg: Message) -> Experiment | None:
    p = msg.payload
    if isinstance(p, VerdictPayload) and p.verdict.decision == "accept" and p.experiment is not None:
        return p.experiment
    if isinstance(p, ResultPayload) and p.outcome.status == "ok" and p.outcome.dev_accuracy is not None:
        o = p.outcome  # no critic between: an ok job is accepted
        return Experiment(o.job_id, o.config, o.seed, o.status, o.dev_accuracy, "accept", msg.round, o.dev_curve)
    return None


async def _harness_merge(ctx: ActContext, r: int) -> None:
    c = await propose(ctx, r, ctx.board.accepted(r), key=f"harness-merge-{r}")
    if c is not None:
        await ctx.merger.install(c, agent="harness")
