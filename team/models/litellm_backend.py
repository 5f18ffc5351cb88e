"""The litellm backend: any provider string (`openai/...`, `anthropic/...`, `ollama/...`,
`hosted_vllm/...`) or a local OpenAI-compatible server via `api_base`. litellm is imported on the first
call only (in a thread, offline price map); calls are rate limited, retried with backoff, and their
replies validated against the output schema with bounded repair turns (`repair_turns=0` when the caller
runs its own repair turns, as team.engine.agents.conversation does: the failed reply, its problems and its
usage travel on the ModelOutputError).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import random
import time
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ValidationError

from sandbox.errors import ConfigError, ModelError
from team.models.base import Request, Response, Usage, describe_request, estimate_tokens
from team.models.limits import DEFAULT_LIMITS, ProviderLimits, provider_of
from team.models.pricing import Pricing
from team.models.structured import json_schema, output_error, parse_output, repair_prompt, schema_instructions

__all__ = ["LiteLLMBackend", "load_litellm"]

_litellm: Any = None
_RETRY_STATUS = {408, 409, 425, 429}


def _import_litellm() -> Any:
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)
        _litellm = litellm
    return _litellm


async def load_litellm() -> Any:
    """litellm, imported once, off the event loop (its import takes seconds)."""
    return _litellm if _litellm is not None else await asyncio.to_thread(_import_litellm)


class _Transient(Exception):
    """A failure worth retrying: 429, 5xx, a timeout, a dropped connection."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class LiteLLMBackend:
    backend = "litellm"

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None,
                 rpm: float | None = None, tpm: float | None = None, price: Any = None,
                 timeout: float = 60.0, max_retries: int = 4, backoff: tuple[float, float] = (0.5, 8.0),
                 repair_turns: int = 2, limits: ProviderLimits | None = None):
        self.name = model
        self.api_base, self.api_key = api_base, api_key
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.repair_turns = repair_turns
        self.limiter = (limits or DEFAULT_LIMITS).get(provider_of(model, api_base), rpm, tpm)
        self._price = price
        self._pricing: Pricing | None = None
        self.where = f"{model} at {api_base}" if api_base else model

    async def complete(self, request: Request) -> Response:
        litellm = await load_litellm()
        pricing = self._resolve_pricing(litellm)
        start = time.perf_counter()
        native = request.output_type is not None and self._native_schema(litellm)
        messages = _wire_messages(request, native)
        usage = Usage()
        for turn in range(self.repair_turns + 1):
            text, used = await self._call_with_retries(litellm, messages, request, native)
            usage = usage + used
            try:
                output = parse_output(text, request.output_type)
            except ValidationError as exc:
                if turn == self.repair_turns:  # what the turns said and cost goes with the error
                    raise output_error(f"{self.where}: {describe_request(request)}", exc, turn, text=text,
                                       usage=usage, cost_usd=pricing.cost(litellm, usage)) from None
                messages += [_msg("assistant", text), _msg("user", repair_prompt(exc))]
                continue
            return Response(output, text, usage, pricing.cost(litellm, usage),
                            time.perf_counter() - start, self.name, self.backend)
        raise AssertionError("unreachable")  # pragma: no cover

    def _resolve_pricing(self, litellm: Any) -> Pricing:
        if self._pricing is None:
            self._pricing = Pricing.resolve(litellm, self.name, self.api_base, self._price)
        return self._pricing

    def _native_schema(self, litellm: Any) -> bool:
        try:
            return bool(litellm.supports_response_schema(model=self.name))
        except Exception:  # an unmapped model: put the schema in the instructions instead
            return False

    async def _call_with_retries(self, litellm: Any, messages: list[dict[str, str]], request: Request,
                                 native: bool) -> tuple[str, Usage]:
        tries = self.max_retries + 1
        for attempt in range(tries):
            try:
                return await self._call_once(litellm, messages, request, native)
            except _Transient as exc:
                if attempt == tries - 1:
                    raise ModelError(f"{self.where}: {exc.reason} after {tries} tries") from None
                await asyncio.sleep(self._delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        base, cap = self.backoff
        if retry_after is not None:
            return min(retry_after, cap)
        delay = min(cap, base * 2**attempt)
        return delay * (0.5 + random.random() / 2)  # jitter: spread retries of concurrent agents

    async def _call_once(self, litellm: Any, messages: list[dict[str, str]], request: Request,
                         native: bool) -> tuple[str, Usage]:
        kwargs = self._kwargs(messages, request, native)
        if self.limiter is not None:
            await self.limiter.acquire(_estimate(messages, request))
        try:
            async with asyncio.timeout(self.timeout):
                raw = await litellm.acompletion(**kwargs)
        except TimeoutError:
            raise _Transient(f"timed out (limit {self.timeout:g} s)") from None
        except Exception as exc:
            raise _classify(litellm, exc, self.where) from None
        return _text_of(raw), _usage_of(raw, messages)

    def _kwargs(self, messages: list[dict[str, str]], request: Request, native: bool) -> dict[str, Any]:
        s = request.sampling
        kwargs: dict[str, Any] = {
            "model": self.name, "messages": messages, "temperature": s.temperature,
            "timeout": self.timeout, "max_retries": 0, "num_retries": 0, "drop_params": True,
        }
        if s.max_tokens is not None:
            kwargs["max_tokens"] = s.max_tokens
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if self.api_base:
            kwargs["api_base"] = self.api_base
            kwargs["api_key"] = self.api_key or "EMPTY"  # local servers ignore it; the client wants one
        elif self.api_key:
            kwargs["api_key"] = self.api_key
        if native:
            kwargs["response_format"] = _response_format(request.output_type)
        return kwargs


def _msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def _wire_messages(request: Request, native: bool) -> list[dict[str, str]]:
    """The request's messages; without native structured output, the schema joins the system message."""
    messages = [_msg(m.role, m.content) for m in request.messages]
    if request.output_type is None or native:
        return messages
    note = schema_instructions(request.output_type)
    if messages and messages[0]["role"] == "system":
        return [_msg("system", messages[0]["content"] + "\n\n" + note), *messages[1:]]
    return [_msg("system", note), *messages]


def _response_format(output_type: type[BaseModel]) -> dict[str, Any]:
    schema = copy.deepcopy(json_schema(output_type))  # providers' adapters may edit it in place
    return {"type": "json_schema",
            "json_schema": {"name": output_type.__name__, "schema": schema, "strict": False}}


def _estimate(messages: list[dict[str, str]], request: Request) -> int:
    return sum(estimate_tokens(m["content"]) for m in messages) + (request.sampling.max_tokens or 0)


def _text_of(raw: Any) -> str:
    try:
        return raw.choices[0].message.content or ""
    except (AttributeError, IndexError):
        return ""


def _usage_of(raw: Any, messages: list[dict[str, str]]) -> Usage:
    usage = getattr(raw, "usage", None)
    if usage is None:  # a server that reports none: estimate, so budgets still move
        return Usage(sum(estimate_tokens(m["content"]) for m in messages), estimate_tokens(_text_of(raw)))
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0, cached)


def _classify(litellm: Any, exc: Exception, where: str) -> Exception:
    """A retryable failure becomes _Transient; anything else a ModelError with one clear line."""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, litellm.Timeout):
        return _Transient("timed out")
    # litellm reports a refused or dropped connection as APIConnectionError or as a 500 "Connection error."
    if isinstance(exc, litellm.APIConnectionError) or "connection error" in str(exc).lower():
        return _Transient("connection failed (no answer from the server)")
    if isinstance(status, int) and (status in _RETRY_STATUS or status >= 500):
        return _Transient(_status_text(status), _retry_after(exc))
    if isinstance(exc, litellm.AuthenticationError):
        return ConfigError(f"{where}: authentication failed; check the api_key for this model")
    detail = f"{_status_text(status)}: " if isinstance(status, int) else ""
    return ModelError(f"{where}: {detail}{_first_line(exc)}")


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
