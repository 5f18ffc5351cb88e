"""Engineers at work: a proposal becomes a job, a critic's `revise` becomes the next attempt (a second
seed, a debugged config), a peer's result becomes a follow-up (reproduce an ok result with another seed,
debug a failed one). An entry engineer plans its own rounds and runs them itself. Every result goes on
along the engineer's edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from groundwork.errors import ConfigError
from roles.context import EngineerContext, Experiment, JobOutcome
from roles.schemas import JobSpec, Proposal
from tasks.solutions import PatchError
from team.engine.acts.director import learn, plan_rounds
from team.engine.acts.table import handles
from team.engine.flow.context import ActContext
from team.engine.flow.messages import Message, PlanPayload, ProposalPayload, ResultPayload, VerdictPayload
from team.engine.records import catalog as ev
from team.engine.work.workshop import config_seed, job_key

__all__ = ["run_proposal", "engineer_verdict", "follow_up", "entry_engineer", "MAX_REPAIRS"]

MAX_REPAIRS = 2  # a patch that does not apply, or a program it broke, goes back to its engineer this often
REPAIRABLE = ("failed", "no_model", "nan")


@handles("engineer", "proposal")
async def run_proposal(ctx: ActContext, msg: Message) -> None:
    p: ProposalPayload = msg.payload
    await _attempt(ctx, msg, p.proposal, attempt=0, last=None, fix={}, reasons=(), confirmations=(),
                   started=ctx.started(msg))


@handles("engineer", "verdict")
async def engineer_verdict(ctx: ActContext, msg: Message) -> None:
    """A critic's verdict on this engineer's result: `revise` runs the next attempt; others teach."""
    v: VerdictPayload = msg.payload
    subject = v.subject
    if v.verdict.decision != "revise" or not isinstance(subject, ResultPayload):
        learn(ctx, msg)
        return
    o = subject.outcome
    seeds = subject.confirmations + ((o,) if v.verdict.second_seed and o.status == "ok" else ())
    await _attempt(ctx, msg, subject.proposal, attempt=subject.attempt + 1, last=o, fix=v.verdict.fix,
                   reasons=tuple(v.verdict.reasons), confirmations=seeds, started=None, previous=subject)


@handles("engineer", "result")
async def follow_up(ctx: ActContext, msg: Message) -> None:
    """A peer engineer's result: reproduce it with another seed when it is ok, debug it when it failed."""
    peer: ResultPayload = msg.payload
    o = peer.outcome
    seeds = peer.confirmations + ((o,) if o.status == "ok" else ())
    await _attempt(ctx, msg, peer.proposal, attempt=peer.attempt + 1, last=o, fix={},
                   reasons=(f"follow up {peer.author}'s {o.job_id} ({o.status})",), confirmations=seeds, started=None)


@handles("engineer", "start")
async def entry_engineer(ctx: ActContext, msg: Message) -> None:
    """An engineer with no one above it plans its own rounds (the director's policy) and runs them."""
    replicas = ctx.replicas(ctx.actor.agent)

    def run_own(plan: PlanPayload, r: int, parent: str) -> None:
        for i, p in enumerate(plan.proposals):
            ctx.local(replicas[i % len(replicas)], "proposal", ProposalPayload(p, i), round=r, lane=i, parent=parent)

    await plan_rounds(ctx, run_own=run_own)


async def _attempt(ctx: ActContext, msg: Message, proposal: Proposal, *, attempt: int, last: JobOutcome | None,
                   fix: dict, reasons: tuple, confirmations: tuple, started: Any,
                   previous: ResultPayload | None = None) -> None:
    actor = ctx.actor
    if ctx.work.stopping and not actor.runner.remembers(msg.round, msg.id):  # no job could run: no model call
        if previous is not None:
            _unrevised(ctx, msg, previous)
        return
    parent = ctx.tree.resolve(proposal.node, _best_node(ctx))
    for repair in range(MAX_REPAIRS + 1):
        key = msg.id if repair == 0 else f"{msg.id}/repair{repair}"
        job_ctx = _context(ctx, msg, proposal, parent, last, fix, reasons, attempt + repair)
        spec: JobSpec = (await actor.runner.think(job_ctx, round=msg.round, key=key, parent=msg.id,
                                                  handler="job")).output
        config = ctx.clean_config(spec.config, actor.replica) or ctx.clean_config(proposal.config, actor.replica) or {}
        try:
            solution = _program(ctx, parent, spec, config)
        except (PatchError, ConfigError, ValueError) as exc:
            last, reasons = _patch_failed(ctx, msg, key, config, spec.seed, attempt, str(exc))
            continue
        node = ctx.tree.add(parent, solution, proposal.operator if spec.patch else "tune", actor.replica, msg.round,
                            msg.id, same_code=not spec.patch)
        outcome = await ctx.work.run_solution(job_key(msg.id, solution.digest, spec.seed), solution, config,
                                              spec.seed, min(spec.wall_seconds, ctx.job_seconds), agent=actor.replica,
                                              role=actor.role.name, round=msg.round, attempt=attempt, parent=msg.id,
                                              node=node.id, started=started)
        if outcome is None:
            if previous is not None:
                _unrevised(ctx, msg, previous)
            return
        ctx.tree.scored(node.id, outcome, msg.id, agent=actor.replica)
        last = outcome
        if not (spec.patch and outcome.status in REPAIRABLE and repair < MAX_REPAIRS):
            break
        reasons = (f"the program failed ({outcome.status}): {outcome.error or outcome.stderr_tail[-300:]}",)
    ctx.board.finished(last)
    result = ResultPayload(last, proposal, attempt, confirmations, actor.replica)
    ctx.send(msg.kind, result, round=msg.round, lane=msg.lane, parent=msg.id, loops=msg.loops)


def training_seed(ctx: ActContext, config: Mapping[str, Any]) -> int:
    """The seed an engineer's context offers for a job: the config's own in this run (`config_seed`: the same
    experiment gets the same seed in every arm of a cell), moved by the engineer agent and its replica (two
    labs' engineers, or two replicas, that run the same config train with different seeds)."""
    agents = [a for a in ctx.team.agents if ctx.team.agents[a].kind == "engineer"]
    lab = agents.index(ctx.actor.agent) if ctx.actor.agent in agents else 0
    replicas = [a.replica for a in ctx.replicas(ctx.actor.agent)]
    copy = replicas.index(ctx.actor.replica) if ctx.actor.replica in replicas else 0
    return config_seed(ctx.seed, config, ctx.work.prepared.task.defaults(), 0 if lab == copy == 0 else (lab, copy))


def _context(ctx: ActContext, msg: Message, proposal: Proposal, parent: str, last: JobOutcome | None,
             fix: dict, reasons: tuple, attempt: int) -> EngineerContext:
    actor, node = ctx.actor, ctx.tree.node(parent)
    return EngineerContext(task=ctx.card, round=msg.round, proposal=proposal.config, rationale=proposal.rationale,
                           last=last, fix=dict(fix), seed=training_seed(ctx, {**proposal.config, **fix}),
                           wall_seconds=ctx.job_seconds,
                           instructions=actor.role.prompt, settings=dict(actor.role.settings), reasons=reasons,
                           node=parent, operator=proposal.operator, files=dict(ctx.tree.solution(parent).files),
                           applied=node.operators, stderr=last.stderr_tail if last else "", attempt=attempt,
                           budget_left=ctx.budget_left())


def _program(ctx: ActContext, parent: str, spec: JobSpec, config: dict) -> Any:
    """The parent's program with the engineer's patch applied and the job's constants set."""
    from tasks.solutions import apply_patch, constants, set_constants

    solution = ctx.tree.solution(parent)
    if spec.patch:
        solution = apply_patch(solution, spec.patch)
    known = constants(solution)
    values = {k: v for k, v in {**config, "seed": spec.seed}.items() if k.upper() in known}
    return set_constants(solution, values)


def _patch_failed(ctx: ActContext, msg: Message, key: str, config: dict, seed: int, attempt: int,
                  error: str) -> tuple[JobOutcome, tuple]:
    line = " ".join(error.split())[:400]
    ctx.events.emit(ev.PATCH_FAILED, agent=ctx.actor.replica, parent=msg.id, round=msg.round, call=key, error=line)
    failed = JobOutcome(f"patch-{key[-12:]}", config, seed, "failed", error=f"the patch did not apply: {line}",
                        attempt=attempt)
    return failed, (failed.error,)


def _best_node(ctx: ActContext) -> str | None:
    node = ctx.tree.of_job(ctx.merger.members[0]) if ctx.merger.members else None
    return node.id if node else None


def _unrevised(ctx: ActContext, msg: Message, previous: ResultPayload) -> None:
    """A revision the budget did not allow: the unconfirmed result is not kept."""
    o = previous.outcome
    ctx.board.judged(Experiment(o.job_id, o.config, o.seed, o.status, o.dev_accuracy, "reject", msg.round))
    ctx.events.emit(ev.UNREVISED, agent=ctx.actor.replica, parent=msg.id, round=msg.round, job_id=o.job_id,
                    reason="the critic asked for a revision that the budget did not allow; unconfirmed "
                           "results are not kept")
