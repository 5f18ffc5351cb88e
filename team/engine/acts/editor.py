"""The editor at work, and the harness's own merge for teams without one.

Accepted results that reach an editor wait for their round to settle; then the editor merges everything
accepted so far (one decision per round, rounds in order) and writes the round's research-log entry. With
an edge to a critic, the candidate goes there as a `merge` for sign-off and becomes the final model only on
its accept (a `revise` comes back to the editor with the reasons); without one it is installed at once and
the log goes along the editor's other edges. A team with no editor keeps the best accepted result of each
round by the team's merge policy (the harness does it; no message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roles.context import Experiment
from team.engine.flow.messages import LogPayload, MergePayload, ResultPayload, VerdictPayload

if TYPE_CHECKING:  # pragma: no cover
    from team.engine.flow.runtime import Actor, Runtime

__all__ = ["park", "editor_verdict", "merge_round"]


async def park(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    rt.parked.setdefault((actor.agent, msg.round), []).append(msg)


async def editor_verdict(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    """A verdict reaching an editor: on a result it is material for the round's merge; on the editor's own
    merge, a `revise` asks for another candidate."""
    v: VerdictPayload = msg.payload
    if not isinstance(v.subject, MergePayload):
        await park(rt, actor, msg, signal)
        return
    if v.verdict.decision != "revise":
        return
    old = v.subject
    c = await rt.merger.propose(msg.round, [], actor.runner, key=msg.id, parent=msg.id,
                                review=tuple(v.verdict.reasons), policy=v.verdict.fix.get("policy"),
                                settings=dict(actor.role.settings))
    if c is not None:
        rt.send(actor, "verdict", MergePayload(c, old.revisions + 1), round=msg.round, lane=0, parent=msg.id,
                loops=msg.loops)


async def merge_round(rt: Runtime, r: int) -> None:
    editors = [a for a in rt.team.agents.values() if a.kind == "editor"]
    if not editors:
        await _harness_merge(rt, r)
        return
    for agent in editors:
        await _editor_merge(rt, rt.replicas(agent.name)[0], r)


async def _editor_merge(rt: Runtime, actor: Actor, r: int) -> None:
    msgs = sorted(rt.parked.pop((actor.agent, r), []), key=lambda m: m.id)
    new = [e for e in (_accepted(m) for m in msgs) if e is not None]
    parent = msgs[0].id if msgs else None
    policy = actor.role.settings.get("policy")
    c = await rt.merger.propose(r, new, actor.runner, key="merge", parent=parent, policy=policy,
                                settings=dict(actor.role.settings))
    if c is None:
        return
    parents = tuple(m.id for m in msgs)
    signed = any("merge" in e.kinds for e in rt.team.out_edges(actor.agent))
    if signed:
        rt.send(actor, "verdict", MergePayload(c), round=r, lane=0, parent=parent, parents=parents)
    else:
        await rt.merger.install(c, agent=actor.replica, parent=parent)
    log = LogPayload(r, c.log, tuple(new), c.members, rt.merger.best_dev)
    rt.send(actor, "verdict", log, round=r, lane=0, parent=parent, parents=parents)


def _accepted(msg: Any) -> Experiment | None:
    p = msg.payload
    if isinstance(p, VerdictPayload) and p.verdict.decision == "accept" and p.experiment is not None:
        return p.experiment
    if isinstance(p, ResultPayload) and p.outcome.status == "ok" and p.outcome.dev_accuracy is not None:
        o = p.outcome  # no critic between: an ok job is accepted
        return Experiment(o.job_id, o.config, o.seed, o.status, o.dev_accuracy, "accept", msg.round, o.dev_curve)
    return None


async def _harness_merge(rt: Runtime, r: int) -> None:
    c = await rt.merger.propose(r, rt.scoreboard.accepted(r), None, key=f"harness-merge-{r}")
    if c is not None:
        await rt.merger.install(c, agent="harness")
