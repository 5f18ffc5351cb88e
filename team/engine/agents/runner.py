"""An agent replica at work: render its role's prompt from a typed context, hold the conversation with its
model (each turn reserved and settled on the ledger; a reply that does not validate or breaks the task's
rules goes back with what is wrong and what is allowed, up to `repair_turns` times), log the call, keep
its transcript, and memoize the answer so a resumed run replays it.

Who decided is on every `model_call` row: `source` is model (the first reply was taken), repaired (a
reply after repair turns), scripted (a scripted agent's own policy, by design), fallback (the role's scripted policy answered: the replies stayed unusable, or
the provider failed `attempts` times; `reason` says which) or memo (replayed from an earlier session).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import BaseModel

from groundwork.errors import ModelError
from roles.checks import problems as check_problems
from roles.library import Role, render_prompt
from team.engine.agents.conversation import Conversation
from team.engine.agents.transcripts import TranscriptLog, messages_row
from team.engine.records import catalog as ev
from team.engine.records.events import EventLog
from team.engine.records.ledger import Ledger
from team.models import Message, Model, Request, Sampling

__all__ = ["AgentRunner", "Thought", "SCRIPTED_NAMES"]

SCRIPTED_NAMES = ("scripted", "sampler")  # runner models whose decisions are scripted policies by design

SYSTEM = ("You are the {role} of a synthetic research team ({description}). Answer with one JSON object "
          "that matches the requested schema, and nothing else.")


@dataclass(frozen=True)
class Thought:
    output: BaseModel
    source: str  # model | repaired | scripted | memo | fallback
    call_id: str
    handler: str = ""


@dataclass(frozen=True)
class _Call:
    """One decision being made: its id, where it sits in the run, and what was asked."""

    id: str
    round: int
    parent: str | None
    handler: str
    policy: str
    request: Request


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
    attempts: int = 3  # tries of a provider that fails (its replies unusable: no new try, the policy answers)
    repair_turns: int = 2
    retry_delay: float = 0.05
    transcripts: TranscriptLog | None = None
    faults: list[str] = field(default_factory=list)
    sources: Counter = field(default_factory=Counter)  # source -> decisions made in this session

    def remembers(self, round: int, key: str) -> bool:
        """Whether this call was answered in an earlier session (a resumed run replays it for free)."""
        return f"{self.replica}/r{round}/{key}" in self.memo

    async def think(self, ctx: Any, *, round: int, key: str, parent: str | None = None,
                    handler: str | None = None) -> Thought:
        """One decision: `handler` names which of the role's handlers (template, schema, policy) answers."""
        spec = self.role.handler(handler)
        call_id = f"{self.replica}/r{round}/{key}"
        if call_id in self.memo:
            self.sources["memo"] += 1
            return Thought(spec.output_type.model_validate(self.memo[call_id]), "memo", call_id, handler or "")
        request = self._request(render_prompt(self.role, ctx, handler), ctx, round, spec)
        call = _Call(call_id, round, parent, handler or next(iter(self.role.handlers)), spec.policy, request)
        check = partial(check_problems, spec.policy, ctx)
        tried: list[Conversation] = []
        for attempt in range(1, self.attempts + 1):
            conv = Conversation(self.model, self.ledger, self.replica, self.role.name, self.max_tokens,
                                self.repair_turns)
            tried.append(conv)
            try:
                output = await conv.run(request, check)
            except ModelError as exc:
                self._fault(call, f"attempt {attempt}: {' '.join(str(exc).split())[:300]}")
                await asyncio.sleep(self.retry_delay * attempt)
                continue
            if output is not None:
                source = "scripted" if self.model.name in SCRIPTED_NAMES else "repaired" if conv.repairs else "model"
                return self._decided(call, output, source, tried)
            what = "its schema" if conv.turns[-1].kind == "schema" else "the task's rules"
            reason = f"the reply broke {what} after {conv.repairs} repair turns"
            self._fault(call, f"attempt {attempt}: {reason}: {'; '.join(conv.problems)[:300]}")
            return self._fallback(ctx, call, tried, reason)
        return self._fallback(ctx, call, tried, f"the model failed {self.attempts} times: {_last_error(self.faults)}")

    def _request(self, prompt: str, ctx: Any, round: int, spec: Any) -> Request:
        system = SYSTEM.format(role=self.role.name, description=self.role.description)
        return Request(
            messages=(Message("system", system), Message("user", prompt)),
            output_type=spec.output_type,
            sampling=Sampling(temperature=self.temperature, max_tokens=self.max_tokens),
            metadata={"agent": self.replica, "role": self.role.name, "round": round, "policy": spec.policy},
            context=ctx,
        )

    def _decided(self, call: _Call, output: BaseModel, source: str, tried: list[Conversation]) -> Thought:
        conv = tried[-1]
        last, usage = conv.turns[-1], conv.usage
        problems = [p for t in conv.turns if t.repair for p in t.problems]
        self._log(call, output, source, attempt=len(tried), backend=last.backend, model=last.model,
                  usage={"prompt": usage.prompt_tokens, "completion": usage.completion_tokens,
                         "cached": usage.cached_tokens},
                  cost_usd=sum(t.cost_usd for t in conv.turns), latency_s=round(sum(t.latency_s for t in conv.turns), 4),
                  repairs=conv.repairs, problems=problems)
        self._transcript(call, source, tried, output)
        return Thought(output, source, call.id, call.handler)

    def _fallback(self, ctx: Any, call: _Call, tried: list[Conversation], reason: str) -> Thought:
        policy = self.policies.get(call.policy)
        if policy is None:
            raise ModelError(f"{self.replica}: {reason}, and no scripted policy {call.policy!r} exists to fall "
                             f"back on")
        output = policy(ctx)
        self.faults.append(f"{call.id}: fallback to the scripted policy {call.policy!r}")
        conv = tried[-1] if tried else None
        self._log(call, output, "fallback", reason=reason, policy=call.policy,
                  repairs=conv.repairs if conv else 0, problems=list(conv.problems) if conv else [])
        self._transcript(call, "fallback", tried, output, fallback={"policy": call.policy, "reason": reason})
        return Thought(output, "fallback", call.id, call.handler)

    def _log(self, call: _Call, output: BaseModel, source: str, **extra) -> None:
        self.sources[source] += 1
        self.events.emit(ev.MODEL_CALL, call=call.id, agent=self.replica, role=self.role.name, round=call.round,
                         parent=call.parent, source=source, handler=call.handler, llm=self.model.name,
                         output=output.model_dump(mode="json"), **extra)

    def _transcript(self, call: _Call, source: str, tried: list[Conversation], output: BaseModel, **extra) -> None:
        if self.transcripts is None:
            return
        turns = [{"attempt": i, **t.row()} for i, conv in enumerate(tried, 1) for t in conv.turns]
        errors = [f for f in self.faults if f.startswith(call.id + ":")]
        self.transcripts.write(self.replica, {
            "call": call.id, "agent": self.replica, "role": self.role.name, "handler": call.handler,
            "round": call.round, "parent": call.parent, "source": source, "model": self.model.name,
            "schema": call.request.output_type.__name__ if call.request.output_type else None,
            "messages": messages_row(call.request.messages), "turns": turns, "errors": errors,
            "output": output.model_dump(mode="json"), **extra})

    def _fault(self, call: _Call, what: str) -> None:
        self.faults.append(f"{call.id}: {what}")
        self.events.emit(ev.MODEL_ERROR, call=call.id, agent=self.replica, role=self.role.name, round=call.round,
                         error=what)


def _last_error(faults: list[str]) -> str:
    return faults[-1].split(": ", 2)[-1][:200] if faults else "no answer"
