"""What a run is asked to do: `RunOptions` (frozen, written into the manifest), `Hooks` (wrappers for
tests and studies), the budget a run gets, the time one job gets, the task card the agents see, and where
each agent's model calls go (`model_routes`, resolved once per session for the checks and the assembly)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from groundwork.errors import ConfigError
from roles.context import TaskCard
from team.config.topology import Team
from team.engine.records.ledger import parse_budget

__all__ = ["RunOptions", "Hooks", "effective_limits", "task_job_seconds", "task_card", "ModelRoute", "model_routes", "PRIORS",
           "prior_config"]

PRIORS = ("reference", "defaults", "starter", "none")


@dataclass(frozen=True)
class Hooks:
    """Wrappers applied while assembling a run: `model(agent_name, model) -> model` and
    `executor(executor) -> executor` (fault injection in tests, instrumentation in studies); `verify`
    replaces the verifier (`verify(model_dir, task, workspace) -> verdict`, for runs of toy models)."""

    model: Any = None
    executor: Any = None
    verify: Any = None


@dataclass(frozen=True)
class RunOptions:
    team: str = "research"
    task: str = ""  # "" = the default task
    out: str | None = None  # the run directory (default runs/<time>-<team>-<task>-s<seed>)
    seed: int = 0
    budget: str | None = None
    model: str | None = None  # override every agent's model
    api_base: str | None = None
    executor: str = "local"  # local | ray
    ray_address: str | None = None
    isolation: str = "auto"
    cpu_threads: int = 1
    gpus: int = 0  # GPUs per job
    record: str | None = None
    replay: str | None = None
    progress: bool = True
    attempts: int = 3  # model-call attempts before the scripted fallback
    job_seconds: float | None = None  # the time limit of one job (default: the task's)
    job_tokens: int | None = None  # one job's horizon in training tokens (default: the task's budget job_tokens)
    prior: str = "starter"  # what every agent starts from: the starter train.py's constants, the task's
    # reference recipe, its knob defaults, or nothing
    provider: str | None = None  # hf | vllm: the Inspect provider of every evaluation (None: the task's setting)
    clock: str = "auto"  # what limits and charges a CPU job: cpu (its cgroup's CPU-seconds), wall, or auto
    # (cpu where the cgroups can count it and jobs run on this machine's CPUs; the session records which)
    share_cores: bool = False  # CPU jobs also hold one of the machine's cores (sandbox.cores): set for the cells
    # of a comparison that run side by side, so that together they never oversubscribe the machine
    extra: dict[str, Any] = field(default_factory=dict)


def effective_limits(team: Team, task: Any, budget: str | None) -> dict[str, float]:
    """The tighter of the task's and the team's limits for each resource; --budget overrides both."""
    from groundwork.units import parse_duration

    limits = dict(team.budget)
    for key, value in (task.budget or {}).items():
        if key in ("wall", "job_seconds"):
            seconds = parse_duration(value)
            limits[key] = min(limits.get(key, seconds), seconds)
    if budget:
        try:
            limits = parse_budget(budget, limits)
        except ValueError as exc:
            raise ConfigError(f"--budget: {exc}") from None
    return {k: _capped(v) if k in ("wall", "job_seconds") and v is not None else v for k, v in limits.items()}


def _capped(seconds: float) -> float:
    from groundwork.units import capped

    try:
        return capped(float(seconds))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def task_job_seconds(task: Any, override: float | None = None) -> float:
    """The time limit of one job: the override, else the task's `job` (or `per_job`) budget, else 60 s."""
    from groundwork.units import parse_duration

    if override:
        return _capped(float(override))
    value = (task.budget or {}).get("job") or (task.budget or {}).get("per_job")
    return _capped(parse_duration(value) if value else 60.0)


def prior_config(task: Any, prior: str) -> dict[str, Any]:
    if prior not in PRIORS:
        raise ConfigError(f"--prior {prior!r}: unknown prior (known: {', '.join(PRIORS)})")
    if prior == "reference":
        if not task.reference:
            raise ConfigError(f"{task.root}/task.yaml:1: --prior reference: task {task.name} has no reference recipe")
        return dict(task.reference)
    if prior == "starter":  # the constants of the task's starter train.py, by knob name
        from tasks.solutions import constants, starter

        values = {name.lower(): value for name, value in constants(starter(task)).items()}
        return {k: values[k] for k in task.knobs if k in values}
    return task.defaults() if prior == "defaults" else {}


def task_card(task: Any, job_seconds: float, prior: str = "reference") -> TaskCard:
    from roles.coding import GENERIC_OPERATORS
    from roles.operators import OPERATORS
    from team.engine.work.workshop import MIN_JOB_SECONDS

    operators = tuple((n, op.summary) for n, op in OPERATORS.items() if op.kind == "code")
    generic = (("draft", "the starter (or the parent) as it is"), ("improve", "one code operator the program lacks"),
               ("debug", "the parent's program, its failure diagnosed from the stderr tail"))
    assert {n for n, _ in generic} == set(GENERIC_OPERATORS)
    return TaskCard(task.name, task.description, tuple(task.knobs.values()), prior_config(task, prior),
                    tuple(task.rules), job_seconds, MIN_JOB_SECONDS, operators + generic, prior)


@dataclass(frozen=True)
class ModelRoute:
    """Where an agent's calls go: the model string, the server (None: the provider's own), the key's variable."""

    spec: str
    api_base: str | None
    api_key_env: str | None
    provider: Any = None


def model_route(agent: Any, options: Any, team: Team) -> ModelRoute:
    settings = agent.model
    spec = options.model or settings.model
    provider = team.spec.providers.get(spec.split("/")[0]) if "/" in spec else None
    return ModelRoute(spec, options.api_base or settings.api_base or (provider and provider.api_base) or None,
                      settings.api_key_env or (provider and provider.api_key_env) or None, provider)


def model_routes(options: RunOptions, team: Team) -> dict[str, ModelRoute]:
    """agent name -> where its model calls go, for every agent that makes any (a sampler makes none)."""
    return {a.name: model_route(a, options, team) for a in team.agents.values() if a.kind != "sampler"}
