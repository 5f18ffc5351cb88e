"""The exception tree, sorted by who is at fault. Exceptions are plain data: they never log or print.

    SynthteamError
    ├── ConfigError        the user's files or flags (raised at load time, `FILE:LINE: what is wrong`)
    ├── JobError           the sandbox could not run a job (code, op, context, retryable)
    ├── ModelError         a model backend failed after its bounded retries (team.models)
    │   └── ModelOutputError   the model's reply stayed invalid after the repair turns
    └── BudgetExhausted    a budget limit would be exceeded (the engine's ledger)

It lives under every layer (team, roles, tasks and sandbox all import groundwork, which imports none of
them), so that every layer raises and catches the same types and none of them owns the tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SynthteamError", "ConfigError", "JobError", "ModelError", "ModelOutputError", "BudgetExhausted"]


class SynthteamError(Exception):
    """Base of every error synthteam raises on purpose."""


class ConfigError(SynthteamError):
    """Bad user input. `problems` holds one `FILE:LINE: what is wrong` line per problem found."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class JobError(SynthteamError):
    code: str
    op: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)
    retryable: bool = False

    def __post_init__(self) -> None:
        super().__init__(f"{self.op}: {self.message}")

    def __str__(self) -> str:
        return f"{self.op}: {self.message}"


class ModelError(SynthteamError):
    """A model call failed for good (after retries): provider errors, timeouts, a replay miss."""


class ModelOutputError(ModelError):
    """The model's reply did not match the expected schema, even after repair turns. It keeps what the
    model said (`text`), what was wrong (`problems`, one line each) and what the turns cost (`usage`,
    `cost_usd`), so a caller can show the reply, repair it in another turn and charge it."""

    def __init__(self, message: str, *, text: str = "", problems: tuple[str, ...] = (), usage: Any = None,
                 cost_usd: float = 0.0):
        super().__init__(message)
        self.text, self.problems, self.usage, self.cost_usd = text, tuple(problems), usage, cost_usd


class BudgetExhausted(SynthteamError):
    def __init__(self, resource: str, wanted: float, left: float):
        self.resource, self.wanted, self.left = resource, wanted, left
        super().__init__(f"budget exhausted: {resource} wanted {wanted:g}, {left:g} left")
