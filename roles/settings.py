"""Role settings: structured knobs of a role's behaviour that a team file may set next to its prompt.

Each role kind has one settings model. A team file's `settings:` (on a role or on an agent) is validated
against its kind's model (unknown keys are errors), rendered into the LLM prompt and read by the scripted
policy, so two teams that differ only in their roles' settings behave differently offline too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roles.flow import DECISIONS

__all__ = ["DirectorSettings", "EngineerSettings", "CriticSettings", "EditorSettings", "SoloSettings",
           "SamplerSettings", "SETTINGS", "Label", "LABEL_CONDITIONS", "is_label_name", "routed_as"]

# what the scripted critic checks before it puts a label on a verdict (an LLM critic reads the same words)
LABEL_CONDITIONS = {
    "always": "every verdict with this decision",
    "within_noise": "the result's (or merge's) dev is within margin x noise of the best (or current) dev",
    "beats_best": "the result's (or merge's) dev is above the best (or current) dev",
    "failed": "the job failed or left no dev score",
    "flagged": "an integrity problem was found (a veto)",
}


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DirectorSettings(_Settings):
    focus: list[str] | None = Field(None, description="the knobs this director may move (default: all); a "
                                                      "sub-director keeps its parent's values for the others")
    proposals: int | None = Field(None, ge=1, le=4096, description="experiments per round (default: one per "
                                                                   "engineer replica it sends to)")
    explore: float | None = Field(None, ge=0, le=1, description="share of far (explore) proposals once some "
                                                                "result is accepted (default: 0.2, more on a "
                                                                "plateau); 0.5 or more also makes its explore "
                                                                "proposals space-filling samples of the whole "
                                                                "knob space instead of far moves from the prior")
    replicate: bool = Field(False, description="propose experiments other planners of the team already proposed "
                                               "(a replication lab); by default a planner never repeats them")


class EngineerSettings(_Settings):
    seed_offset: int = Field(0, ge=0, description="added to every job seed this engineer picks")


class Label(_Settings):
    """A custom decision label: a refinement of accept, revise or reject that `when:` can route on."""

    model_config = ConfigDict(**_Settings.model_config, populate_by_name=True, serialize_by_alias=True)  # `if:`, as
    # a team file says it, in errors, dumps and `synthteam show`
    means: Literal["accept", "revise", "reject"] = Field(description="what the verdict decides (the harness and "
                                                                     "whoever receives it act on this)")
    condition: Literal["always", "within_noise", "beats_best", "failed", "flagged"] = Field(
        "always", alias="if", description="when the scripted critic puts the label on a verdict with that decision")
    note: str = Field("", description="what the label means, in words (shown to an LLM critic)")


class CriticSettings(_Settings):
    margin: float = Field(2.0, gt=0, le=100, description="a gain counts when it exceeds margin x the noise")
    second_seed: bool = Field(True, description="confirm a marginal gain with a second seed before accepting")
    min_explore: int = Field(0, ge=0, description="plan review: revise a plan with fewer explore proposals")
    merge_tolerance: float = Field(0.0, ge=0, le=1, description="merge sign-off: accept a merge whose dev is at "
                                                                "most this much below the current final model's")
    labels: dict[str, Label] = Field(default_factory=dict, description="custom decision labels `when:` routes on "
                                     "(name -> {means, if, note}); the first that applies is put on a verdict")

    @field_validator("labels")
    @classmethod
    def _names(cls, labels: dict[str, Label]) -> dict[str, Label]:
        for name in labels:
            if name in DECISIONS or not is_label_name(name):
                raise ValueError(f"label {name!r}: a label is a lowercase name other than accept, revise, reject")
        return labels


class EditorSettings(_Settings):
    policy: Literal["best", "soup", "greedy_soup"] | None = Field(None, description="overrides the team's merge")


class SoloSettings(_Settings):
    parallel: int = Field(1, ge=0, le=256, description="experiments in flight at once, each in its own job slot "
                                                    "(0: as many as the run has job slots)")


class SamplerSettings(_Settings):
    method: Literal["random", "tpe", "reference"] = "random"
    parallel: int = Field(0, ge=0, le=256, description="trials in flight (0: as many as the run has job slots)")
    startup_trials: int = Field(4, ge=1, le=1000, description="tpe: random trials before the model kicks in")
    trials: int | None = Field(None, ge=1, description="stop after this many trials (default: until the budget)")


SETTINGS: dict[str, type[_Settings]] = {
    "director": DirectorSettings, "engineer": EngineerSettings, "critic": CriticSettings,
    "editor": EditorSettings, "solo": SoloSettings, "sampler": SamplerSettings,
}


def is_label_name(name: object) -> bool:
    """What can name a decision in `when:`: a lowercase identifier (the three decisions, or a label)."""
    return isinstance(name, str) and name.isidentifier() and name.islower()


def routed_as(settings: Mapping[str, Any] | None, decision: str) -> set[str]:
    """The `when:` names that carry a verdict deciding `decision`: the decision, and the labels of a critic's
    (validated) settings that mean it."""
    labels = (settings or {}).get("labels") or {}
    return {decision} | {name for name, spec in labels.items() if spec["means"] == decision}
