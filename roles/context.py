"""What each role sees: typed, frozen contexts built by the runtime from the messages an agent received.

A role's prompt template is rendered from its context, and its scripted policy is a plain function
of the same context, so an LLM and the offline policy decide on exactly the same facts. `settings` is
the role's validated settings (roles.settings), `instructions` its extra prompt from the team file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks.spec import Knob

__all__ = [
    "Knob", "TaskCard", "Experiment", "JobOutcome", "DirectorContext", "EngineerContext", "CriticContext",
    "EditorContext", "SoloContext", "PlanReviewContext", "MergeReviewContext", "SamplerContext",
]


@dataclass(frozen=True)
class TaskCard:
    name: str
    description: str
    knobs: tuple[Knob, ...]
    reference: Mapping[str, Any] = field(default_factory=dict)  # a known-good config, if the prior gives one
    rules: tuple[str, ...] = ()
    job_seconds: float = 60.0  # the default time limit of one job
    min_job_seconds: float = 8.0  # a shorter job is raised to this (it could not train anything)
    operators: tuple[tuple[str, str], ...] = ()  # (name, what it does) of the code operators engineers know
    prior: str = "reference"  # where `reference` comes from: reference (a known-good recipe), starter, defaults


@dataclass(frozen=True)
class JobOutcome:
    """One finished job as a role sees it: its status, the harness's dev score of its final model, and what
    it streamed (dev curve, losses: the job's own numbers, for diagnosis, never for decisions)."""

    job_id: str
    config: Mapping[str, Any]
    seed: int
    status: str  # ok | failed | timeout | oom | killed | cancelled | nan | no_model
    dev_accuracy: float | None = None  # the harness's dev accuracy of final_model/ (never the job's own)
    dev_curve: tuple[tuple[int, float], ...] = ()  # (step, dev accuracy) as the job reported it
    loss_curve: tuple[tuple[int, float], ...] = ()  # (step, train loss)
    error: str = ""
    seconds: float = 0.0
    attempt: int = 0  # how many times this proposal has been revised
    reported_dev: float | None = None  # what the job printed (untrusted)
    node: str = ""  # the node of the tree of attempts it ran
    flags: tuple[str, ...] = ()  # what the harness found (e.g. the printed dev score differs from its own)
    stderr_tail: str = ""


@dataclass(frozen=True)
class Experiment:
    """One line of the research log: a configuration, its result and the critic's verdict."""

    job_id: str
    config: Mapping[str, Any]
    seed: int
    status: str
    dev_accuracy: float | None
    verdict: str = ""  # accept | revise | reject | "" (not reviewed)
    round: int = 0
    node: str = ""  # the node of the tree of attempts it ran
    operators: tuple[str, ...] = ()  # the code operators applied from the starter to that node
    curve: tuple[tuple[int, float], ...] = ()  # its dev curve (step, accuracy), for prompts


@dataclass(frozen=True)
class DirectorContext:
    task: TaskCard
    round: int
    n_proposals: int  # how many distinct experiments the engineers can take this round
    history: tuple[Experiment, ...]
    best_dev: float | None
    rounds_left: int
    plateau: int  # rounds since the best dev score last improved
    plateau_limit: int
    seed: int = 0
    budget_left: Mapping[str, float] = field(default_factory=dict)
    instructions: str = ""  # the role's extra prompt from the team file
    settings: Mapping[str, Any] = field(default_factory=dict)
    share: tuple[Mapping[str, Any], ...] = ()  # a sub-director: the configs its parent gave it
    review: tuple[str, ...] = ()  # a plan critic's reasons for revising the last plan
    fix: Mapping[str, Any] = field(default_factory=dict)  # what the plan critic asked for (e.g. explore: 2)
    log: tuple[str, ...] = ()  # research-log entries received (the editor's, or whoever the edges name)
    claimed: tuple[Mapping[str, Any], ...] = ()  # {config, node, operator} other planners proposed: not to repeat
    agent: str = ""  # the planner's name in the team file (its random stream)


@dataclass(frozen=True)
class EngineerContext:
    task: TaskCard
    round: int
    proposal: Mapping[str, Any]  # the config the director asked for
    rationale: str
    last: JobOutcome | None = None  # the previous attempt when revising
    fix: Mapping[str, Any] = field(default_factory=dict)  # the critic's suggested changes
    seed: int = 0
    wall_seconds: float = 60.0
    instructions: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()  # the critic's reasons when revising
    node: str = "starter"  # the parent node this job starts from
    operator: str = "tune"  # what the proposal asks to do to it
    files: Mapping[str, str] = field(default_factory=dict)  # the parent node's files (its program)
    applied: tuple[str, ...] = ()  # code operators already applied from the starter to the parent
    stderr: str = ""  # the tail of the last attempt's stderr, when it failed
    attempt: int = 0  # 0 for a proposal's first job; repairs and revisions count up
    budget_left: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CriticContext:
    task: TaskCard
    round: int
    outcome: JobOutcome
    best_dev: float | None  # the best accepted dev score so far
    noise: float  # the measured seed-to-seed std of dev accuracy (0 when unknown)
    confirmations: tuple[JobOutcome, ...] = ()  # other seeds of the same config
    flags: tuple[str, ...] = ()  # integrity problems found by the harness in the job's work dir
    revisions_left: int = 0
    instructions: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    diff: str = ""  # the attempt's change to its parent's program (unified diff; empty for constants only)
    budget_left: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanReviewContext:
    task: TaskCard
    round: int
    proposals: tuple[Mapping[str, Any], ...]  # configs of the plan under review
    rationales: tuple[str, ...]
    tried: tuple[Mapping[str, Any], ...]  # configs already run or planned in earlier rounds
    revisions_left: int = 0
    instructions: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MergeReviewContext:
    task: TaskCard
    round: int
    policy: str
    members: tuple[str, ...]  # job ids of the candidate final model
    candidate_dev: float | None  # its dev score, measured by the harness
    current: tuple[str, ...]  # job ids of the current final model
    current_dev: float | None
    member_devs: tuple[float | None, ...] = ()
    noise: float = 0.0
    revisions_left: int = 0
    instructions: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EditorContext:
    task: TaskCard
    round: int
    policy: str  # best | soup | greedy_soup
    accepted: tuple[Experiment, ...]  # accepted checkpoints, best first
    current: tuple[str, ...] = ()  # job ids of the current final model
    current_dev: float | None = None
    noise: float = 0.0
    instructions: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    review: tuple[str, ...] = ()  # a sign-off critic's reasons for revising the last merge


@dataclass(frozen=True)
class SoloContext:
    task: TaskCard
    round: int
    history: tuple[Experiment, ...]
    last: JobOutcome | None
    best_dev: float | None
    rounds_left: int
    seed: int = 0
    instructions: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    pending: tuple[Mapping[str, Any], ...] = ()  # configs of its experiments still running
    budget_left: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplerContext:
    """A sampler (random search, TPE, the reference recipe) asks for `n` trials numbered from `number`."""

    task: TaskCard
    number: int  # the number of the first trial asked for
    n: int
    finished: tuple[Experiment, ...]  # trials with results, in trial order
    pending: tuple[Mapping[str, Any], ...] = ()
    seed: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)
    instructions: str = ""
