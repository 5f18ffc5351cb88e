"""An agent replica at work: render its role's prompt from a typed context, reserve budget, call its
model (with bounded retries), settle, log the call, and memoize the answer so a resumed run replays it.

When the model keeps failing, the role's scripted policy answers instead and the event says so
(`source: fallback`), so a run with a flaky provider completes and reports every fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from roles.library import Role, render_prompt
from sandbox.errors import ModelError
from team.engine.events import EventLog
from team.engine.ledger import Ledger
from team.models import Message, Model, Request, Sampling, estimate_tokens

__all__ = ["AgentRunner", "Thought"]

SYSTEM = ("You are the {role} of a synthetic research team ({description}). Answer with one JSON object "
          "that matches the requested schema, and nothing else.")


@dataclass(frozen=True)
class Thought:
    output: BaseModel
    source: str  # model | memo | fallback
    call_id: str
    handler: str = ""


@dataclass
class AgentRunner:
    replica: str  # e.g. "engineer[2]"
    agent_name: str
    role: Role
    model: Model
    ledger: Ledger
    events: EventLog
    memo: dict[str, dict] = field(default_factory=dict)  # call id -> recorded output (from events.jsonl)
    policies: Mapping[str, Callable[[Any], BaseModel]] = field(default_factory=dict)
    temperature: float = 0.7
    max_tokens: int | None = None
    attempts: int = 3
    retry_delay: float = 0.05
    faults: list[str] = field(default_factory=list)

    def remembers(self, round: int, key: str) -> bool:
        """Whether this call was answered in an earlier session (a resumed run replays it for free)."""
        return f"{self.replica}/r{round}/{key}" in self.memo

    async def think(self, ctx: Any, *, round: int, key: str, parent: str | None = None,
                    handler: str | None = None) -> Thought:
        """One decision: `handler` names which of the role's handlers (template, schema, policy) answers."""
        spec = self.role.handler(handler)
        call_id = f"{self.replica}/r{round}/{key}"
        if call_id in self.memo:
            return Thought(spec.output_type.model_validate(self.memo[call_id]), "memo", call_id, handler or "")
        prompt = render_prompt(self.role, ctx, handler)
        request = self._request(prompt, ctx, round, spec)
        for attempt in range(1, self.attempts + 1):
            try:
                output = await self._call(request, call_id, round, parent, attempt)
                return Thought(output, "model", call_id, handler or "")
            except ModelError as exc:
                self._fault(call_id, round, f"attempt {attempt}: {' '.join(str(exc).split())[:300]}")
                await asyncio.sleep(self.retry_delay * attempt)
        return self._fallback(ctx, call_id, round, parent, spec.policy)

    def _request(self, prompt: str, ctx: Any, round: int, spec: Any) -> Request:
        system = SYSTEM.format(role=self.role.name, description=self.role.description)
        return Request(
            messages=(Message("system", system), Message("user", prompt)),
            output_type=spec.output_type,
            sampling=Sampling(temperature=self.temperature, max_tokens=self.max_tokens),
            metadata={"agent": self.replica, "role": self.role.name, "round": round, "policy": spec.policy},
            context=ctx,
        )

    async def _call(self, request: Request, call_id: str, round: int, parent: str | None, attempt: int) -> BaseModel:
        prompt_tokens = sum(estimate_tokens(m.content) for m in request.messages)
        wanted = {"tokens": prompt_tokens + (self.max_tokens or 1024), "model_calls": 1}
        if self.model.name == "scripted":
            wanted["tokens"] = prompt_tokens * 2
        hold = self.ledger.reserve(wanted, agent=self.replica, role=self.role.name)
        try:
            response = await self.model.complete(request)
        except BaseException:
            self.ledger.settle(hold, {"model_calls": 1})
            raise
        usage = response.usage
        self.ledger.settle(hold, {"tokens": usage.prompt_tokens + usage.completion_tokens,
                                  "usd": response.cost_usd, "model_calls": 1})
        if response.output is None:
            raise ModelError(f"{self.replica}: the model returned no structured output")
        self._log(call_id, round, parent, response.output, "model", attempt=attempt, backend=response.backend,
                  model=response.model, usage={"prompt": usage.prompt_tokens, "completion": usage.completion_tokens,
                                               "cached": usage.cached_tokens},
                  cost_usd=response.cost_usd, latency_s=round_(response.latency_s))
        return response.output

    def _fallback(self, ctx: Any, call_id: str, round: int, parent: str | None, name: str) -> Thought:
        policy = self.policies.get(name)
        if policy is None:
            raise ModelError(f"{self.replica}: the model failed {self.attempts} times and no scripted policy "
                             f"{name!r} exists to fall back on")
        output = policy(ctx)
        self.faults.append(f"{call_id}: fallback to the scripted policy {name!r}")
        self._log(call_id, round, parent, output, "fallback")
        return Thought(output, "fallback", call_id)

    def _log(self, call_id: str, round: int, parent: str | None, output: BaseModel, source: str, **extra) -> None:
        self.events.emit("model_call", call=call_id, agent=self.replica, role=self.role.name, round=round,
                         parent=parent, source=source, output=output.model_dump(mode="json"), **extra)

    def _fault(self, call_id: str, round: int, what: str) -> None:
        self.faults.append(f"{call_id}: {what}")
        self.events.emit("model_error", call=call_id, agent=self.replica, role=self.role.name, round=round,
                         error=what)


def round_(x: float) -> float:
    return round(x, 4)

