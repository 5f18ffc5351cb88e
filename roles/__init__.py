"""What each role is: prompt templates, output schemas, typed contexts, scripted (offline) policies,
and the built-in teams. Roles never import the team runtime.
"""

from roles.context import (
    CriticContext,
    DirectorContext,
    EditorContext,
    EngineerContext,
    Experiment,
    JobOutcome,
    KnobInfo,
    SoloContext,
    TaskCard,
)
from roles.library import BUILTIN_KINDS, Role, builtin_roles, prompt_hash, render_prompt, team_files
from roles.schemas import SCHEMAS, JobSpec, MergeDecision, Plan, Proposal, SoloStep, Verdict

__all__ = [
    "CriticContext", "DirectorContext", "EditorContext", "EngineerContext", "Experiment", "JobOutcome", "KnobInfo",
    "SoloContext", "TaskCard", "BUILTIN_KINDS", "Role", "builtin_roles", "prompt_hash", "render_prompt",
    "team_files", "SCHEMAS", "JobSpec", "MergeDecision", "Plan", "Proposal", "SoloStep", "Verdict",
]
