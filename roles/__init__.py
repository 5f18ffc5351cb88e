"""What each role is: its handlers (prompt templates, output schemas, scripted policies) per payload it
takes, its settings, the typed contexts it decides on, the payload flow table, and the built-in teams.
Roles never import the team runtime.
"""

from roles.context import (
    CriticContext,
    DirectorContext,
    EditorContext,
    EngineerContext,
    Experiment,
    JobOutcome,
    Knob,
    MergeReviewContext,
    PlanReviewContext,
    SamplerContext,
    SoloContext,
    TaskCard,
)
from roles.library import BUILTIN_KINDS, Handler, Role, builtin_roles, prompt_hash, render_prompt, team_files
from roles.schemas import SCHEMAS, JobSpec, MergeDecision, Plan, Proposal, SoloStep, Verdict

__all__ = [
    "CriticContext", "DirectorContext", "EditorContext", "EngineerContext", "Experiment", "JobOutcome", "Knob",
    "MergeReviewContext", "PlanReviewContext", "SamplerContext", "SoloContext", "TaskCard", "BUILTIN_KINDS",
    "Handler", "Role", "builtin_roles", "prompt_hash", "render_prompt", "team_files", "SCHEMAS", "JobSpec",
    "MergeDecision", "Plan", "Proposal", "SoloStep", "Verdict",
]
