"""Test doubles that speak the Model protocol: `ScriptedModel` serves queued replies and records the
requests it saw; `FunctionModel` answers with a function of the request. `FlakyModel` and
`CrashingExecutor` inject faults into a real model or executor. Prefer them to mocks.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from sandbox.errors import ModelOutputError
from team.models.base import Request, Response
from team.models.scripted import usage_from_text
from team.models.structured import error_summary, parse_output

__all__ = ["ScriptedModel", "FunctionModel", "FlakyModel", "CrashingExecutor"]

Reply = BaseModel | str | Response | Exception | Callable[[Request], Any]


async def _to_response(reply: Any, request: Request, name: str, start: float) -> Response:
    """Turn a reply (model, JSON text, Response, exception, or callable of the request) into a Response."""
    if isinstance(reply, BaseException):
        raise reply
    if callable(reply) and not isinstance(reply, BaseModel | Response):
        reply = reply(request)
        if inspect.isawaitable(reply):
            reply = await reply
        return await _to_response(reply, request, name, start)
    if isinstance(reply, Response):
        return reply
    if isinstance(reply, BaseModel):
        output, text = reply, reply.model_dump_json()
    elif isinstance(reply, str):
        output, text = _parse(reply, request, name), reply
    else:
        raise TypeError(f"{name}: cannot reply with {type(reply).__name__}")
    return Response(
        output=output,
        text=text,
        usage=usage_from_text(request, text),
        latency_s=time.perf_counter() - start,
        model=name,
        backend="test",
    )


def _parse(text: str, request: Request, name: str) -> BaseModel | None:
    try:
        return parse_output(text, request.output_type)
    except ValidationError as exc:
        raise ModelOutputError(f"{name}: reply invalid: {error_summary(exc)}") from None


class ScriptedModel:
    """Serves `replies` in order, one per call; `calls` holds every Request received."""

    def __init__(self, replies: Iterable[Reply] = (), name: str = "scripted-model"):
        self.replies: list[Reply] = list(replies)
        self.calls: list[Request] = []
        self.name = name

    async def complete(self, request: Request) -> Response:
        start = time.perf_counter()
        self.calls.append(request)
        if not self.replies:
            raise AssertionError(f"{self.name}: no reply left for call {len(self.calls)}")
        return await _to_response(self.replies.pop(0), request, self.name, start)

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def assert_complete(self) -> None:
        if self.replies:
            raise AssertionError(f"{self.name}: {len(self.replies)} replies were never used")


class FunctionModel:
    """Answers each request with `fn(request)`: a pydantic model, JSON text or a Response (sync or async)."""

    def __init__(self, fn: Callable[[Request], Any], name: str = "function-model"):
        self.fn = fn
        self.calls: list[Request] = []
        self.name = name

    async def complete(self, request: Request) -> Response:
        start = time.perf_counter()
        self.calls.append(request)
        return await _to_response(self.fn, request, self.name, start)


class FlakyModel:
    """Wraps a real model; a seeded share of calls fails with ModelError before reaching it."""

    def __init__(self, inner: Any, failure_rate: float = 0.3, seed: int = 0):
        import random

        from sandbox.errors import ModelError

        self.inner, self.failure_rate, self.name = inner, failure_rate, inner.name
        self._rng, self._error = random.Random(seed), ModelError
        self.failures = 0
        self.calls = 0

    async def complete(self, request: Request) -> Response:
        self.calls += 1
        if self._rng.random() < self.failure_rate:
            self.failures += 1
            raise self._error(f"injected fault {self.failures}: provider unavailable")
        return await self.inner.complete(request)


class CrashingExecutor:
    """Wraps a real executor; a seeded share of jobs runs a command that crashes (exit 3) instead."""

    def __init__(self, inner: Any, crash_rate: float = 0.3, seed: int = 0):
        import random

        self.inner, self.crash_rate = inner, crash_rate
        self._rng = random.Random(seed)
        self.crashed: list[str] = []
        for name in ("notice", "isolation", "slots"):
            if hasattr(inner, name):
                setattr(self, name, getattr(inner, name))

    async def submit(self, job: Any) -> Any:
        from dataclasses import replace

        if self._rng.random() < self.crash_rate:
            self.crashed.append(job.job_id)
            crash = ("python3", "-c", "import sys; print('injected crash', file=sys.stderr); sys.exit(3)")
            job = replace(job, command=crash)
        return await self.inner.submit(job)

    async def wait(self, handle: Any) -> Any:
        return await self.inner.wait(handle)

    async def cancel(self, handle: Any) -> None:
        await self.inner.cancel(handle)

    def metrics(self, handle: Any) -> Any:
        return self.inner.metrics(handle)
