"""Planning: an entry director (or an entry engineer) plans its rounds; a sub-director plans within the
share its parent sent; a director whose plan a critic sent back plans it again; every planner learns
from the logs, verdicts and results that reach it.

Round r is planned once round r-1 holds its job slots and round r-2 has settled, from what the planner
learned up to round r-2 and what it proposed up to round r-1. A planner plans at most `stop.rounds`
rounds, and at most max_loops + 1 when a bounded loop-back brings it feedback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from roles.checks import as_proposed
from roles.context import DirectorContext
from roles.schemas import Plan, Proposal
from team.engine.flow.messages import PlanPayload, VerdictPayload
from team.engine.records import catalog as ev

if TYPE_CHECKING:  # pragma: no cover
    from team.engine.flow.runtime import Actor, Runtime

__all__ = ["plan_rounds", "subplan", "director_verdict", "learn", "clean_config", "round_limit", "budget_left"]


def round_limit(rt: Runtime, agent: str) -> int:
    """stop.rounds, and max_loops + 1 for a bounded loop-back into the planner that carries feedback."""
    loops = [e.max_loops for e in rt.team.in_edges(agent) if e.loop_back and e.max_loops
             and (e.when is None or set(e.when) - {"revise"})]
    return min([rt.team.rounds, *[n + 1 for n in loops]])


async def plan_rounds(rt: Runtime, agent: str, run_own: Any = None) -> None:
    """An entry director's (or engineer's) rounds; `run_own(actor, plan, r, parent)` runs the plan itself
    (an entry engineer) instead of sending it along the edges."""
    actor = rt.replicas(agent)[0]
    for r in range(1, round_limit(rt, agent) + 1):
        await rt.book.wait_taken(r - 1)
        await rt.book.wait_settled(r - 2)
        if rt.work.stopping and not actor.runner.remembers(r, "plan"):  # a resumed run still replays
            return
        parent = actor.memory.last_heard(r - 2) or f"round:{agent}:{r}"
        ctx = planner_context(rt, actor, r, rt.router.capacity(agent) or len(rt.replicas(agent)))
        plan: Plan = (await actor.runner.think(ctx, round=r, key="plan", parent=parent, handler="plan")).output
        if plan.stop:
            rt.note_stop(f"the {actor.role.name} stopped: {plan.reason}")
            return
        proposals = valid_proposals(rt, actor, plan.proposals, r)
        if not proposals:
            rt.note_stop(f"the {actor.role.name} proposed nothing new in round {r}")
            return
        actor.memory.proposed[r] = proposals
        rt.proposed.setdefault(r, []).extend(proposals)
        payload = PlanPayload(tuple(proposals), plan.reason)
        if run_own is not None:
            run_own(actor, payload, r, parent)
        else:
            rt.send(actor, "start", payload, round=r, lane=0, parent=parent)
        rt.book.planned(agent, r)
    rt.note_stop(f"{round_limit(rt, agent)} rounds")


def planner_context(rt: Runtime, actor: Actor, r: int, n: int, *, share: tuple = (), review: tuple = (),
                    fix: Mapping[str, Any] | None = None) -> DirectorContext:
    mem = actor.memory
    return DirectorContext(task=rt.card, round=r, n_proposals=n, history=mem.history(r), best_dev=mem.best_dev(r - 2),
                           rounds_left=round_limit(rt, actor.agent) - r + 1, plateau=mem.plateau(r - 2),
                           plateau_limit=rt.team.plateau or rt.team.rounds, seed=_seed(rt, actor.agent),
                           budget_left=budget_left(rt), instructions=actor.role.prompt,
                           settings=dict(actor.role.settings), share=share, review=review, fix=dict(fix or {}),
                           log=mem.log_entries(r - 2))


async def subplan(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    """A sub-director: plan within the share of the parent's plan that reached it."""
    await rt.book.wait_settled(msg.round - 2)
    share = tuple(p.config for p in msg.payload.proposals)
    n = rt.router.capacity(actor.agent) or len(share)
    ctx = planner_context(rt, actor, msg.round, n, share=share)
    plan: Plan = (await actor.runner.think(ctx, round=msg.round, key=msg.id, parent=msg.id, handler="subplan")).output
    proposals = valid_proposals(rt, actor, plan.proposals, msg.round)
    if plan.stop or not proposals:
        rt.work.events.emit(ev.PLAN_DROPPED, agent=actor.replica, parent=msg.id, round=msg.round,
                            reason=plan.reason or "no valid proposal")
        return
    actor.memory.proposed.setdefault(msg.round, []).extend(proposals)
    rt.proposed.setdefault(msg.round, []).extend(proposals)
    rt.send(actor, "plan", PlanPayload(tuple(proposals), plan.reason), round=msg.round, lane=0, parent=msg.id,
            loops=msg.loops)


async def director_verdict(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    """A plan critic sent this director's plan back (revise): plan the round again, with its reasons."""
    payload: VerdictPayload = msg.payload
    if not (isinstance(payload.subject, PlanPayload) and payload.verdict.decision == "revise"):
        learn(rt, actor, msg, signal)
        return
    old = payload.subject
    ctx = planner_context(rt, actor, msg.round, len(old.proposals), review=tuple(payload.verdict.reasons),
                          fix=payload.verdict.fix)
    plan: Plan = (await actor.runner.think(ctx, round=msg.round, key=msg.id, parent=msg.id, handler="plan")).output
    proposals = valid_proposals(rt, actor, plan.proposals, msg.round) or list(old.proposals)
    actor.memory.proposed[msg.round] = proposals
    rt.proposed.setdefault(msg.round, []).extend(proposals)
    rt.send(actor, "start", PlanPayload(tuple(proposals), plan.reason, old.revisions + 1), round=msg.round,
            lane=0, parent=msg.id, loops=msg.loops)


def learn(rt: Runtime, actor: Actor, msg: Any, signal: Any = None) -> None:
    actor.memory.learn(msg.round, msg.id, msg.payload)


async def learn_act(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    learn(rt, actor, msg, signal)


def valid_proposals(rt: Runtime, actor: Actor, proposals: list[Proposal], r: int) -> list[Proposal]:
    """Proposals with known, in-range knobs that repeat nothing this planner proposed or learned before."""
    seen = {_canon(e.config, *as_proposed(e)) for e in actor.memory.history(r)}
    out = []
    for p in proposals:
        config = clean_config(rt, p.config, agent=actor.replica)
        key = _canon(config or {}, p.node, p.operator)
        if config is None or key in seen:
            continue
        seen.add(key)
        out.append(Proposal(config=config, rationale=p.rationale, node=p.node, operator=p.operator))
    return out


def clean_config(rt: Runtime, config: Mapping[str, Any], agent: str = "") -> dict[str, Any] | None:
    """The config if every knob is known and in range (an LLM may propose nonsense), else None."""
    knobs = rt.work.prepared.task.knobs
    try:
        for name, value in config.items():
            if name not in knobs:
                raise ValueError(f"unknown knob {name!r}")
            knobs[name].validate(value)
    except (ValueError, TypeError) as exc:
        rt.work.events.emit(ev.INVALID_CONFIG, agent=agent, config=dict(config), error=str(exc))
        return None
    return {k: v for k, v in config.items() if k != "seed"}


def _seed(rt: Runtime, agent: str) -> int:
    """Entry agents plan independently: each after the first gets a seed of its own."""
    entries = list(rt.team.entries)
    return rt.seed + 1000 * entries.index(agent) if agent in entries else rt.seed


def budget_left(rt: Runtime) -> dict[str, float]:
    """What the ledger has left of each limited resource (what a prompt says the budget is)."""
    ledger = rt.work.ledger
    return {k: round(ledger.left(k), 3) for k in ledger.limits}


def _canon(config: Mapping[str, Any], node: str = "starter", operator: str = "tune") -> str:
    return repr((node, operator, sorted((k, config[k]) for k in config if k != "seed")))
