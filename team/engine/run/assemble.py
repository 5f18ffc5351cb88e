"""Build a run's parts, each complete when constructed: the executor and its slot count, the workshop,
one AgentRunner per replica with its model, the merger and the runtime. Nothing is patched afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from team.config.topology import Agent, Team
from team.engine.agents.runner import AgentRunner
from team.engine.agents.transcripts import TranscriptLog
from team.engine.flow.runtime import Runtime
from team.engine.records.events import EventLog
from team.engine.records.ledger import Ledger
from team.engine.run.options import Hooks, ModelRoute, RunOptions, model_routes, task_card, task_job_seconds
from team.engine.work.merger import Merger
from team.engine.work.tree import AttemptTree, edited_files
from team.engine.work.workshop import Workshop

__all__ = ["Parts", "assemble", "make_executor", "local_ray_cpus", "ray_slots", "warm_imports"]


@dataclass(frozen=True)
class Parts:
    executor: Any
    workshop: Workshop
    runtime: Runtime
    backends: tuple[str, ...]


def make_executor(options: Any, jobs_dir: Path, warm_imports: tuple[str, ...] = ("torch",)) -> tuple[Any, int]:
    """The executor and how many training jobs it runs at once; `warm_imports`: what its warm worker has
    imported before it forks a job (sandbox.warm)."""
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
                             isolation=options.isolation, share_cores=options.share_cores, warm_imports=warm_imports)
    return executor, max(1, capacity)


def warm_imports(task: Any) -> tuple[str, ...]:
    """What a task's jobs import at start: torch for the tiny models; transformers, peft and Inspect AI too
    for Hugging Face models (the starter, the recipe and every Inspect evaluation)."""
    return ("torch",) if getattr(task, "kind", "tiny") == "tiny" else ("torch", "transformers", "peft", "inspect_ai")


def local_ray_cpus() -> int:
    """CPUs a local Ray cluster started by us declares: one more than the cores, for the evaluation lane
    (as the LocalExecutor's extra slot). A running cluster (`--address`) keeps its own resources."""
    from sandbox.slots import usable_cpus

    return usable_cpus() + 1


def ray_slots(options: Any) -> int:
    """Training jobs one run keeps on a Ray cluster at once: as many as this machine's cores would hold,
    so a run (or a comparison cell) gets the same compute on Ray as locally."""
    from sandbox.slots import cpu_share

    return cpu_share(options.cpu_threads)


def _model_for(agent: Agent, options: RunOptions, route: ModelRoute | None) -> Any:
    from roles.policies import POLICIES
    from team.models import ScriptedBackend, make_model

    if route is None:  # a sampler: its decisions come from a sampler, whatever model the run names
        return ScriptedBackend(POLICIES, name="sampler")
    settings = agent.model
    spec, provider = route.spec, route.provider
    api_key = os.environ.get(route.api_key_env) if route.api_key_env else None
    return make_model(spec, api_base=route.api_base,
                      api_key=api_key, rpm=settings.rpm or (provider and provider.rpm),
                      tpm=settings.tpm or (provider and provider.tpm), price=settings.price, policies=POLICIES,
                      record=options.record, replay=options.replay, repair_turns=0)  # the runner repairs


def _runners(agent: Agent, options: RunOptions, route: ModelRoute | None, ledger: Ledger, events: EventLog, memo: dict,
             hooks: Hooks, transcripts: TranscriptLog) -> list[AgentRunner]:
    from roles.policies import POLICIES

    model = _model_for(agent, options, route)
    if hooks.model is not None:
        model = hooks.model(agent.name, model)
    return [AgentRunner(replica=name, agent_name=agent.name, role=agent.role, model=model, ledger=ledger,
                        events=events, memo=memo, policies=POLICIES, temperature=agent.model.temperature,
                        max_tokens=agent.model.max_tokens, attempts=options.attempts, transcripts=transcripts)
            for name in agent.replica_names()]


def _tree(run_dir: Path, task: Any, events: EventLog) -> AttemptTree:
    """The tree of attempts, rooted at the task's starter (train.py with the knob defaults). A node's code
    changes are the named operators its program carries, else the files it edited beyond the knob constants,
    whoever wrote the edit (an LLM engineer's own patch is a code change too)."""
    from roles.operators import applied_operators
    from tasks.solutions import starter

    base, knobs = starter(task), {k.upper() for k in task.knobs}

    def changes(solution: Any) -> tuple[str, ...]:
        return tuple(applied_operators(solution)) or tuple(f"edited {p}" for p in edited_files(base, solution, knobs))

    return AttemptTree(run_dir / "tree", base, events, applied=changes)


def assemble(run_dir: Path, options: RunOptions, team: Team, task: Any, prepared: Any, ledger: Ledger,
             events: EventLog, memos: tuple[dict, dict], hooks: Hooks,
             routes: Mapping[str, ModelRoute] | None = None) -> Parts:
    """`routes`: where each agent's model calls go (the session resolves them once; by default, from the
    options and the team)."""
    from team.engine.acts import ACTS, STATES, round_end

    routes = model_routes(options, team) if routes is None else routes
    calls, jobs = memos
    executor, capacity = make_executor(options, run_dir / "jobs", warm_imports(task))
    if hooks.executor is not None:
        executor = hooks.executor(executor)
    work = Workshop(executor, prepared, ledger, events, run_dir / "jobs", capacity, options.cpu_threads,
                    options.gpus, memo=jobs, clock="cpu" if options.clock == "cpu" else "wall")
    job_seconds = task_job_seconds(task, options.job_seconds)
    card = task_card(task, job_seconds, options.prior)
    editor = next((a for a in team.agents.values() if a.kind == "editor"), None)
    merge = (editor.settings.get("policy") if editor else None) or team.merge
    merger = Merger(merge, work, run_dir / "final_model", dev_n=getattr(prepared, "dev_n", 200))
    transcripts = TranscriptLog(run_dir / "transcripts")
    runners = {r.replica: r for a in team.agents.values()
               for r in _runners(a, options, routes.get(a.name), ledger, events, calls, hooks, transcripts)}
    tree = _tree(run_dir, task, events)
    runtime = Runtime(team, card, work, merger, runners, tree, seed=options.seed, job_seconds=job_seconds, acts=ACTS,
                      states=STATES, round_end=round_end)
    backends = tuple(sorted({r.model.name for r in runners.values()}))
    return Parts(executor, work, runtime, backends)
