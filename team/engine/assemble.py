"""Assemble a run from its parts: the executor, the workshop, one AgentRunner per replica with its
model, the merger and the runtime, with memos from an earlier session's events when resuming.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from roles.context import KnobInfo, TaskCard
from roles.library import builtin_roles
from team.engine.agents import AgentRunner
from team.engine.ledger import Ledger
from team.engine.events import EventLog
from team.engine.merger import Merger
from team.engine.runtime import TeamRuntime
from team.config.topology import Agent, Team
from team.engine.workshop import Workshop

__all__ = ["assemble", "task_card", "make_executor"]


def task_card(task: Any, job_seconds: float) -> TaskCard:
    knobs = tuple(KnobInfo(k.name, k.kind, k.low, k.high, k.log, tuple(k.choices or ()), k.default)
                  for k in task.knobs.values())
    return TaskCard(task.name, task.description, knobs, dict(task.reference or {}), tuple(task.rules), job_seconds)


def make_executor(options: Any, jobs_dir: Path) -> tuple[Any, int]:
    """The executor and how many jobs it runs at once."""
    from sandbox import DeviceSlots, LocalExecutor

    if options.executor == "ray":
        from sandbox import RayExecutor

        executor = RayExecutor(address=options.ray_address, root=jobs_dir,
                               num_cpus=None if options.ray_address else local_ray_cpus())
        return executor, ray_slots(options)
    slots = DeviceSlots.detect(cpu_threads=options.cpu_threads)
    capacity = sum(slots.gpus.values()) if options.gpus else slots.cpu_slots
    # One CPU slot more than the team trains on: the Workshop's evaluation lane (dev scores of merged
    # models, seconds each) must not wait in the executor's queue behind minute-long training jobs.
    executor = LocalExecutor(jobs_dir, slots=DeviceSlots(dict(slots.gpus), slots.cpu_slots + 1),
                             isolation=options.isolation)
    return executor, max(1, capacity)


def local_ray_cpus() -> int:
    """CPUs a local Ray cluster started by us declares: one more than the cores, for the evaluation lane
    (as the LocalExecutor's extra slot). A running cluster (`--address`) keeps its own resources."""
    return (os.cpu_count() or 1) + 1


def ray_slots(options: Any) -> int:
    """Training jobs one run keeps on a Ray cluster at once: as many as this machine's cores would hold,
    so a run (or a comparison cell) gets the same compute on Ray as locally."""
    from sandbox.slots import cpu_share

    return cpu_share(options.cpu_threads)


def _memos(rows: list[dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    calls = {r["call"]: r["output"] for r in rows if r.get("event") == "model_call"}
    jobs = {r["key"]: r for r in rows if r.get("event") == "job_finished"}
    return calls, jobs


def _model_for(agent: Agent, options: Any, team: Team) -> Any:
    from roles.policies import POLICIES
    from team.models import make_model

    settings = agent.model
    spec = options.model or settings.model
    provider = team.spec.providers.get(spec.split("/")[0]) if "/" in spec else None
    api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
    return make_model(spec, api_base=options.api_base or settings.api_base or (provider and provider.api_base),
                      api_key=api_key, rpm=settings.rpm or (provider and provider.rpm),
                      tpm=settings.tpm or (provider and provider.tpm), price=settings.price, policies=POLICIES,
                      record=options.record, replay=options.replay)


def _runners(agent: Agent, options: Any, team: Team, ledger: Ledger, events: EventLog, memo: dict,
             hooks: Any) -> list[AgentRunner]:
    from roles.policies import POLICIES

    model = _model_for(agent, options, team)
    if hooks.model is not None:
        model = hooks.model(agent.name, model)
    return [AgentRunner(replica=name, agent_name=agent.name, role=agent.role, model=model, ledger=ledger,
                        events=events, memo=memo, policies=POLICIES, temperature=agent.model.temperature,
                        max_tokens=agent.model.max_tokens, attempts=options.attempts)
            for name in agent.replica_names()]


async def assemble(run_dir: Path, options: Any, team: Team, task: Any, ledger: Ledger, events: EventLog,
                   rows: list[dict], hooks: Any) -> tuple[TeamRuntime, Any]:
    import asyncio

    from roles.policies import POLICIES
    from tasks import prepare_task
    from team.views.progress import Progress

    prepared = await asyncio.to_thread(prepare_task, task)
    calls, jobs = _memos(rows)
    executor, capacity = make_executor(options, run_dir / "jobs")
    if hooks.executor is not None:
        executor = hooks.executor(executor)
    if getattr(executor, "notice", None):
        events.emit("isolation_reduced", notice=executor.notice)
    work = Workshop(executor, prepared, ledger, events, run_dir / "jobs", capacity, options.cpu_threads,
                    options.gpus, memo=jobs)
    job_seconds = options.job_seconds or _job_seconds(task)
    card = task_card(task, job_seconds)
    by_kind = {kind: [r for a in agents for r in _runners(a, options, team, ledger, events, calls, hooks)]
               for kind, agents in team.kinds().items()}
    entry = team.agents[team.entry]
    planner = _planner(entry, by_kind, options, team, ledger, events, calls, hooks)
    editors = by_kind.get("editor", [])
    merger = Merger(card, team.merge, work, run_dir / "final_model", editor=editors[0] if editors else None,
                    scripted_editor=POLICIES["editor"], dev_n=getattr(prepared, "dev_n", 200))
    runtime = TeamRuntime(team, card, work, merger, planner, by_kind.get("engineer", []) or [planner],
                          by_kind.get("critic", []), _broadcast(team), _revisions(team), _rounds(team),
                          seed=options.seed, job_seconds=job_seconds)
    runtime.extra_runners = [r for rs in by_kind.values() for r in rs] + [planner]
    progress = Progress(run_dir, team, task, ledger, events, runtime, enabled=options.progress)
    return runtime, progress


def _job_seconds(task: Any) -> float:
    from sandbox.units import parse_duration

    value = (task.budget or {}).get("job") or (task.budget or {}).get("per_job")
    return parse_duration(value) if value else 60.0


def _planner(entry: Agent, by_kind: dict, options: Any, team: Team, ledger: Ledger, events: EventLog,
             calls: dict, hooks: Any) -> AgentRunner:
    if entry.kind in ("director", "solo"):
        return by_kind[entry.kind][0]
    if "director" in by_kind:
        return by_kind["director"][0]
    director = builtin_roles()["director"]
    role = director.extend(f"{entry.role.name}-as-director", prompt=entry.role.prompt)
    runner = _runners(entry, options, team, ledger, events, calls, hooks)[0]
    runner.role = role
    return runner


def _broadcast(team: Team) -> bool:
    kinds = {a.name: a.kind for a in team.agents.values()}
    return any(e.broadcast and kinds[e.to] == "critic" for e in team.edges)


def _revisions(team: Team) -> int:
    kinds = {a.name: a.kind for a in team.agents.values()}
    loops = [e.max_loops or 1 for e in team.edges
             if kinds[e.source] == "critic" and kinds[e.to] == "engineer" and e.when in ("revise", None)]
    if not loops:
        return 0
    labelled = [e for e in team.edges if kinds[e.source] == "critic" and e.when == "revise"]
    return max(loops) if labelled else min(max(loops), 2)


def _rounds(team: Team) -> int:
    back = [e.max_loops + 1 for e in team.edges if e.to == team.entry and e.max_loops]
    return min([team.rounds, *back])
