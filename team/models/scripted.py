"""The offline backend: a role's scripted policy (a plain function from the typed context to the
role's typed output, possibly async) served as a Model, with usage estimated from the text.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from sandbox.errors import ModelError, ModelOutputError
from team.models.base import Request, Response, Usage, describe_request, estimate_tokens

__all__ = ["ScriptedBackend", "Policy", "usage_from_text"]

Policy = Callable[[Any], Any]


def usage_from_text(request: Request, text: str) -> Usage:
    """Estimated usage: the rendered messages as the prompt, `text` as the completion."""
    prompt = sum(estimate_tokens(m.content) for m in request.messages)
    return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(text))


class ScriptedBackend:
    """Looks up `policies[metadata["policy"]]` (else `metadata["role"]`) and calls it on the context."""

    backend = "scripted"

    def __init__(self, policies: Mapping[str, Policy] | None = None, name: str = "scripted"):
        self.policies = dict(policies or {})
        self.name = name

    def _policy_for(self, request: Request) -> tuple[str, Policy]:
        key = request.metadata.get("policy") or request.metadata.get("role")
        if key in self.policies:
            return key, self.policies[key]
        known = ", ".join(sorted(self.policies)) or "none"
        raise ModelError(f"{describe_request(request)}: no scripted policy for role {key!r} (known: {known})")

    async def complete(self, request: Request) -> Response:
        start = time.perf_counter()
        key, policy = self._policy_for(request)
        output = policy(request.context)
        if inspect.isawaitable(output):
            output = await output
        output = _check_output(request, key, output)
        text = output.model_dump_json()
        return Response(
            output=output,
            text=text,
            usage=usage_from_text(request, text),
            cost_usd=0.0,
            latency_s=time.perf_counter() - start,
            model=self.name,
            backend=self.backend,
        )


def _check_output(request: Request, key: str, output: Any) -> BaseModel:
    expected = request.output_type
    if not isinstance(output, BaseModel):
        raise ModelOutputError(f"scripted policy {key!r} returned {type(output).__name__}, not a pydantic model")
    if expected is not None and not isinstance(output, expected):
        raise ModelOutputError(
            f"scripted policy {key!r} returned {type(output).__name__}, expected {expected.__name__}"
        )
    return output
