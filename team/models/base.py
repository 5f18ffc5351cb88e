"""The Model seam: one async method from a Request (messages, output schema, sampling, metadata) to a
Response (parsed output, raw text, usage, cost, latency). Every backend and test double speaks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

__all__ = [
    "Message",
    "Sampling",
    "Request",
    "Usage",
    "Response",
    "Model",
    "estimate_tokens",
    "describe_request",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float = 0.7
    max_tokens: int | None = None
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One model call. `context` is the typed object the prompt was rendered from: scripted policies read
    it, LLM backends ignore it. `metadata` carries run, agent, role, round (and optionally policy)."""

    messages: tuple[Message, ...]
    output_type: type[BaseModel] | None = None
    sampling: Sampling = field(default_factory=Sampling)
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    context: Any = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True, slots=True)
class Response:
    output: BaseModel | None
    text: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    model: str = ""
    backend: str = ""


@runtime_checkable
class Model(Protocol):
    """Anything with a `name` and `async complete(request) -> Response`."""

    name: str

    async def complete(self, request: Request) -> Response: ...


def estimate_tokens(text: str) -> int:
    """A provider-free token estimate (about four characters per token), at least 1 for non-empty text."""
    return (len(text) + 3) // 4


def describe_request(request: Request) -> str:
    """A short label for error messages: `agent director round 2` (whatever metadata is present)."""
    meta = request.metadata
    who = meta.get("agent") or meta.get("role") or "request"
    parts = [f"agent {who}" if "agent" in meta or "role" in meta else str(who)]
    if meta.get("round") is not None:
        parts.append(f"round {meta['round']}")
    return " ".join(parts)
