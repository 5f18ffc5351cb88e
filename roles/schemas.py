"""What each role answers: the typed outputs a model (scripted or LLM) must produce.

These pydantic models are the roles' output schemas. They are sent to LLMs as JSON schema and
used to parse their replies; the scripted policies return them directly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Proposal", "Plan", "JobSpec", "Verdict", "MergeDecision", "SoloStep", "SCHEMAS"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Proposal(_Out):
    """One experiment: a node of the tree of attempts to start from, what to do to it (an operator), the
    knob values (train.py's constants) to run it with, and why."""

    config: dict[str, Any] = Field(description="recipe knobs -> values, within the task's ranges")
    rationale: str = Field(default="", description="why this experiment, in one or two sentences")
    node: str = Field(default="starter", description="the node to start from: 'starter', 'best', or a node id")
    operator: str = Field(default="tune", description="what to do to it: tune (the constants only), or a code "
                                                      "operator (draft, improve, debug, or one the task card lists)")


class Plan(_Out):
    """The director's answer for a round: experiments to run, or a decision to stop."""

    proposals: list[Proposal] = Field(default_factory=list)
    stop: bool = False
    reason: str = ""


class JobSpec(_Out):
    """The engineer's answer: the job to submit for a proposal (or a fixed one after a failure)."""

    config: dict[str, Any]
    seed: int = 0
    wall_seconds: float = Field(gt=0, description="the job's time limit in seconds")
    note: str = Field(default="", description="what changed and why (e.g. lr lowered after NaN loss)")
    patch: dict[str, Any] | None = Field(
        default=None, description='the change to the parent\'s files: {"files": {path: new text or null}} and/or '
                                  '{"diff": "<unified diff>"}; none: the parent\'s program with these constants')


class Verdict(_Out):
    """The critic's answer on one finished job."""

    decision: Literal["accept", "revise", "reject"]
    label: str | None = Field(default=None, description="a label from your settings' labels that applies (its "
                                                        "`means` is then the decision); none: a plain decision")
    reasons: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="integrity problems (a veto)")
    second_seed: bool = Field(default=False, description="a marginal win: confirm with another seed first")
    fix: dict[str, Any] = Field(default_factory=dict, description="suggested knob changes when revising")


class MergeDecision(_Out):
    """The editor's answer: how the accepted checkpoints become the team's single final model."""

    policy: Literal["best", "soup", "greedy_soup"]
    members: list[str] = Field(description="job ids whose checkpoints form the final model, in order")
    expected_dev: float | None = None
    log: str = Field(default="", description="the research-log entry for this round")


class SoloStep(_Out):
    """The solo agent's answer: the next experiment and whether to keep the last one."""

    keep_last: bool = False
    next: Proposal | None = None
    stop: bool = False
    reason: str = ""


SCHEMAS: dict[str, type[BaseModel]] = {
    "Plan": Plan,
    "JobSpec": JobSpec,
    "Verdict": Verdict,
    "MergeDecision": MergeDecision,
    "SoloStep": SoloStep,
}
