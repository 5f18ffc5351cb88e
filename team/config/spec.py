"""Team YAML, schema v1: the pydantic models that validate a team file at the edge.

A later version may add keys; it never changes what these mean. `synthteam schema team` prints
the JSON Schema of `TeamSpec` for editor completion.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from groundwork.units import parse_duration
from roles.settings import is_label_name

__all__ = ["TeamSpec", "AgentSpec", "RoleSpec", "EdgeSpec", "BudgetSpec", "StopSpec", "ModelDefaults",
           "MERGE_POLICIES", "VERDICTS", "Duration"]

MERGE_POLICIES = ("best", "soup", "greedy_soup")
VERDICTS = ("accept", "revise", "reject")


def _duration(value: Any) -> float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_duration(value)
    raise ValueError(f"bad duration {value!r}: expected e.g. 90s, 10m, 2h")


_UNIT = r"([sSmMhHdD]|[sS][eE][cC][sS]?|[mM][iI][nN][sS]?|[hH][rR][sS]?)?"
_DURATION_SCHEMA = {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                              {"type": "string", "pattern": r"^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*" + _UNIT + r"\s*$"}],
                    "examples": ["90s", "10m", "1.5h", 300]}
Duration = Annotated[float, BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)]
Decision = Literal["accept", "revise", "reject"]
DECISIONS = ("accept", "revise", "reject")
# a decision, or a custom label a critic's settings declare (labels:); the JSON Schema suggests the three
Label = Annotated[str, WithJsonSchema({"anyOf": [{"enum": list(DECISIONS)}, {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}]})]


def _when(value: Any) -> Any:
    """One clear line for a `when` that cannot name a decision (before the union's two); whether a custom
    label is one its source critic declares is the graph pass's check (team.config.checks)."""
    for item in value if isinstance(value, list) else [value]:
        if item is not None and not is_label_name(item):
            raise ValueError(f"{item!r} is not a decision: `when` takes accept, revise, reject or a label from "
                             "the source critic's settings (labels:), or a list of them")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ModelDefaults(_Strict):
    model: str = Field("scripted", description="scripted, replay:PATH, or any litellm model string")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    api_base: str | None = Field(None, description="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = Field(None, description="the environment variable holding the API key")
    rpm: float | None = Field(None, gt=0, description="requests per minute for this provider")
    tpm: float | None = Field(None, gt=0, description="tokens per minute for this provider")
    price: dict[str, float] | None = Field(None, description="{input_per_mtok, output_per_mtok} in USD")


class BudgetSpec(_Strict):
    wall: Duration | None = Field(None, description="wall-clock limit of the whole run")
    job_seconds: Duration | None = Field(None, description="total seconds of jobs on devices")
    tokens: int | None = Field(None, gt=0)
    usd: float | None = Field(None, ge=0)
    model_calls: int | None = Field(None, gt=0)


class AgentSpec(_Strict):
    role: str
    replicas: int = Field(1, ge=1, le=1024)
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    api_base: str | None = None
    api_key_env: str | None = None
    prompt: str | None = Field(None, description="extra instructions for this agent")
    settings: dict[str, Any] | None = Field(None, description="this agent's role settings (roles/settings.py), "
                                                              "on top of its role's")


class RoleSpec(_Strict):
    extends: str
    description: str | None = None
    prompt: str | None = None
    template: str | None = Field(None, description="a Jinja template replacing the parent's primary one")
    settings: dict[str, Any] | None = Field(None, description="structured settings of the role's kind, e.g. a "
                                                              "critic's margin or a director's focus")


class EdgeSpec(_Strict):
    source: str = Field(alias="from")
    to: str
    when: Annotated[Label | list[Label] | None, BeforeValidator(_when)] = Field(
        None, description="the verdicts this edge carries, by decision (accept, revise, reject) or by a label of "
                          "the source critic's settings (default: all)")
    max_loops: int | None = Field(None, ge=1, le=10_000)
    broadcast: bool = False


class StopSpec(_Strict):
    rounds: int = Field(5, ge=1, le=10_000)
    plateau: int | None = Field(None, ge=1)


class TeamSpec(_Strict):
    version: Literal[1] = 1
    name: str = Field(min_length=1, json_schema_extra={"pattern": "^[a-z0-9_-]+$"})
    description: str = ""
    defaults: ModelDefaults = ModelDefaults()
    budget: BudgetSpec = BudgetSpec()
    agents: dict[str, AgentSpec] = Field(min_length=1, json_schema_extra={"propertyNames": {"pattern": "^[a-z0-9_-]+$"}})
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    edges: list[EdgeSpec] = Field(default_factory=list)
    entry: str | None = Field(None, description="the one agent that starts each round (default: every agent "
                                                "with no incoming edge other than bounded loop-backs)")
    merge: Literal["best", "soup", "greedy_soup"] = "best"
    stop: StopSpec = StopSpec()
    providers: dict[str, ModelDefaults] = Field(default_factory=dict,
                                                description="per-provider settings (rpm, tpm, api_base)")

    @field_validator("roles")  # team and agent names: the graph pass (team.config.checks), with their lines
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"bad name {name!r}: use letters, digits, '-' and '_'")
        return value
