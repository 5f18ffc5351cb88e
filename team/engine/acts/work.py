"""Engineers at work: a proposal becomes a job, a critic's `revise` becomes the next attempt (a second
seed, a debugged config), a peer's result becomes a follow-up (reproduce an ok result with another seed,
debug a failed one). An entry engineer plans its own rounds and runs them itself. Every result goes on
along the engineer's edges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from groundwork.errors import ConfigError
from roles.context import EngineerContext, Experiment, JobOutcome
from roles.schemas import JobSpec, Proposal
from tasks.solutions import PatchError
from team.engine.acts.plan import budget_left, clean_config, learn, plan_rounds
from team.engine.flow.messages import PlanPayload, ProposalPayload, ResultPayload, VerdictPayload
from team.engine.records import catalog as ev
from team.engine.work.workshop import job_key

if TYPE_CHECKING:  # pragma: no cover
    from team.engine.flow.runtime import Actor, Runtime

__all__ = ["run_proposal", "engineer_verdict", "follow_up", "entry_engineer"]


async def run_proposal(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    p: ProposalPayload = msg.payload
    await _attempt(rt, actor, msg, p.proposal, attempt=0, last=None, fix={}, reasons=(), confirmations=(),
                   started=signal)


async def engineer_verdict(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    """A critic's verdict on this engineer's result: `revise` runs the next attempt; others teach."""
    v: VerdictPayload = msg.payload
    subject = v.subject
    if v.verdict.decision != "revise" or not isinstance(subject, ResultPayload):
        learn(rt, actor, msg)
        return
    o = subject.outcome
    seeds = subject.confirmations + ((o,) if v.verdict.second_seed and o.status == "ok" else ())
    await _attempt(rt, actor, msg, subject.proposal, attempt=subject.attempt + 1, last=o, fix=v.verdict.fix,
                   reasons=tuple(v.verdict.reasons), confirmations=seeds, started=None, previous=subject)


async def follow_up(rt: Runtime, actor: Actor, msg: Any, signal: Any) -> None:
    """A peer engineer's result: reproduce it with another seed when it is ok, debug it when it failed."""
    peer: ResultPayload = msg.payload
    o = peer.outcome
    seeds = peer.confirmations + ((o,) if o.status == "ok" else ())
    await _attempt(rt, actor, msg, peer.proposal, attempt=peer.attempt + 1, last=o, fix={},
                   reasons=(f"follow up {peer.author}'s {o.job_id} ({o.status})",), confirmations=seeds, started=None)


MAX_REPAIRS = 2  # a patch that does not apply, or a program it broke, goes back to its engineer this often


async def _attempt(rt: Runtime, actor: Actor, msg: Any, proposal: Proposal, *, attempt: int, last: JobOutcome | None,
                   fix: dict, reasons: tuple, confirmations: tuple, started: Any,
                   previous: ResultPayload | None = None) -> None:
    if rt.work.stopping and not actor.runner.remembers(msg.round, msg.id):  # no job could run: no model call
        if previous is not None:
            _unrevised(rt, actor, msg, previous)
        return
    parent = rt.tree.resolve(proposal.node, _best_node(rt))
    for repair in range(MAX_REPAIRS + 1):
        key = msg.id if repair == 0 else f"{msg.id}/repair{repair}"
        ctx = _context(rt, actor, msg, proposal, parent, last, fix, reasons, attempt + repair)
        spec: JobSpec = (await actor.runner.think(ctx, round=msg.round, key=key, parent=msg.id, handler="job")).output
        config = clean_config(rt, spec.config, actor.replica) or clean_config(rt, proposal.config, actor.replica) or {}
        try:
            solution = _program(rt, parent, spec, config)
        except (PatchError, ConfigError, ValueError) as exc:
            last, reasons = _patch_failed(rt, actor, msg, key, config, spec.seed, attempt, str(exc))
            continue
        node = rt.tree.add(parent, solution, proposal.operator if spec.patch else "tune", actor.replica, msg.round,
                           msg.id)
        outcome = await rt.work.run_solution(job_key(msg.id, solution.digest, spec.seed), solution, config,
                                             spec.seed, min(spec.wall_seconds, rt.job_seconds), agent=actor.replica,
                                             role=actor.role.name, round=msg.round, attempt=attempt, parent=msg.id,
                                             node=node.id, started=started)
        if outcome is None:
            if previous is not None:
                _unrevised(rt, actor, msg, previous)
            return
        rt.tree.scored(node.id, outcome, msg.id)
        last = outcome
        if not (spec.patch and outcome.status in REPAIRABLE and repair < MAX_REPAIRS):
            break
        reasons = (f"the program failed ({outcome.status}): {outcome.error or outcome.stderr_tail[-300:]}",)
    rt.scoreboard.finished(last)
    result = ResultPayload(last, proposal, attempt, confirmations, actor.replica)
    rt.send(actor, msg.kind, result, round=msg.round, lane=msg.lane, parent=msg.id, loops=msg.loops)


REPAIRABLE = ("failed", "no_model", "nan")


def _context(rt: Runtime, actor: Actor, msg: Any, proposal: Proposal, parent: str, last: JobOutcome | None,
             fix: dict, reasons: tuple, attempt: int) -> EngineerContext:
    node = rt.tree.node(parent)
    return EngineerContext(task=rt.card, round=msg.round, proposal=proposal.config, rationale=proposal.rationale,
                           last=last, fix=dict(fix), seed=rt.seed + 17 * msg.round + msg.lane,
                           wall_seconds=rt.job_seconds, instructions=actor.role.prompt,
                           settings=dict(actor.role.settings), reasons=reasons, node=parent,
                           operator=proposal.operator, files=dict(rt.tree.solution(parent).files),
                           applied=node.operators, stderr=last.stderr_tail if last else "", attempt=attempt,
                           budget_left=budget_left(rt))


def _program(rt: Runtime, parent: str, spec: JobSpec, config: dict) -> Any:
    """The parent's program with the engineer's patch applied and the job's constants set."""
    from tasks.solutions import apply_patch, constants, set_constants

    solution = rt.tree.solution(parent)
    if spec.patch:
        solution = apply_patch(solution, spec.patch)
    known = constants(solution)
    values = {k: v for k, v in {**config, "seed": spec.seed}.items() if k.upper() in known}
    return set_constants(solution, values)


def _patch_failed(rt: Runtime, actor: Actor, msg: Any, key: str, config: dict, seed: int, attempt: int,
                  error: str) -> tuple[JobOutcome, tuple]:
    line = " ".join(error.split())[:400]
    rt.work.events.emit(ev.PATCH_FAILED, agent=actor.replica, parent=msg.id, round=msg.round, call=key, error=line)
    failed = JobOutcome(f"patch-{key[-12:]}", config, seed, "failed", error=f"the patch did not apply: {line}",
                        attempt=attempt)
    return failed, (failed.error,)


def _best_node(rt: Runtime) -> str | None:
    node = rt.tree.of_job(rt.merger.members[0]) if rt.merger.members else None
    return node.id if node else None


def _unrevised(rt: Runtime, actor: Actor, msg: Any, previous: ResultPayload) -> None:
    """A revision the budget did not allow: the unconfirmed result is not kept."""
    o = previous.outcome
    rt.judged(Experiment(o.job_id, o.config, o.seed, o.status, o.dev_accuracy, "reject", msg.round))
    rt.work.events.emit(ev.UNREVISED, agent=actor.replica, parent=msg.id, round=msg.round, job_id=o.job_id,
                        reason="the critic asked for a revision that the budget did not allow; unconfirmed "
                               "results are not kept")


async def entry_engineer(rt: Runtime, agent: str) -> None:
    """An engineer with no one above it plans its own rounds (the director's policy) and runs them."""
    replicas = rt.replicas(agent)

    def run_own(actor: Actor, plan: PlanPayload, r: int, parent: str) -> None:
        for i, p in enumerate(plan.proposals):
            rt.local(replicas[i % len(replicas)], "proposal", ProposalPayload(p, i), round=r, lane=i, parent=parent)

    await plan_rounds(rt, agent, run_own=run_own)
