"""One decision as a conversation with a model: the rendered prompt, the reply, and — when the reply does not
validate against its schema or breaks a rule of the task (roles.checks) — repair turns that show the model
its reply and say what is wrong and what is allowed, up to a bound. Each turn reserves its budget first
and settles what the server reported (tokens of every turn, repairs included, and their price).

A reply from the scripted backend is the role's own policy: it is trusted and never checked. The wall-clock
limit is hard for calls too: one still in flight when it runs out is cancelled.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from groundwork.errors import BudgetExhausted, ModelOutputError
from team.engine.records.ledger import Ledger
from team.models import Message, Model, Request, Usage, estimate_tokens
from team.models.structured import repair_prompt

__all__ = ["Turn", "Conversation"]


@dataclass(frozen=True)
class Turn:
    """One reply: what the model said, what was wrong with it (`kind` schema | check, or ok), what it cost,
    and the repair message that followed it (if any)."""

    reply: str
    problems: tuple[str, ...] = ()
    kind: str = "ok"
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    backend: str = ""
    model: str = ""
    repair: str = ""

    def row(self) -> dict[str, Any]:
        u = self.usage
        return {"reply": self.reply, "problems": list(self.problems), "kind": self.kind, "repair": self.repair,
                "usage": {"prompt": u.prompt_tokens, "completion": u.completion_tokens, "cached": u.cached_tokens},
                "cost_usd": self.cost_usd, "latency_s": round(self.latency_s, 4), "backend": self.backend,
                "model": self.model}


@dataclass
class Conversation:
    """The turns of one attempt at a decision. `run` returns the accepted output, or None when the reply
    was still unusable after `repair_turns` repairs; a ModelError (the provider failed) propagates."""

    model: Model
    ledger: Ledger
    agent: str
    role: str
    max_tokens: int | None = None
    repair_turns: int = 2
    turns: list[Turn] = field(default_factory=list)

    @property
    def repairs(self) -> int:
        return sum(1 for t in self.turns if t.repair)

    @property
    def problems(self) -> tuple[str, ...]:
        """The problems of the last reply (empty when it was taken)."""
        return self.turns[-1].problems if self.turns else ()

    @property
    def usage(self) -> Usage:
        total = Usage()
        for t in self.turns:
            total = total + t.usage
        return total

    async def run(self, request: Request, check: Callable[[BaseModel], list[str]]) -> BaseModel | None:
        for turn in range(self.repair_turns + 1):
            output, reply = await self._turn(request, check)
            if output is not None:
                self.turns.append(reply)
                return output
            if turn == self.repair_turns:
                self.turns.append(reply)
                return None
            text = repair_prompt(reply.problems, reply.kind)
            self.turns.append(replace(reply, repair=text))
            request = replace(request, messages=request.messages + (Message("assistant", reply.reply),
                                                                    Message("user", text)))
        return None  # pragma: no cover

    async def _turn(self, request: Request, check: Callable[[BaseModel], list[str]]) -> tuple[BaseModel | None, Turn]:
        hold = self.ledger.reserve(self._wanted(request), agent=self.agent, role=self.role)
        try:
            response = await self._complete(request, hold)
        except ModelOutputError as exc:  # it answered, but not in its schema: charge what it used
            usage = exc.usage if isinstance(exc.usage, Usage) else Usage()
            self._settle(hold, usage, exc.cost_usd)
            problems = exc.problems or (" ".join(str(exc).split())[:300],)
            return None, Turn(exc.text, problems, "schema", usage, exc.cost_usd)
        except BaseException:
            self.ledger.settle(hold, {"model_calls": 1})
            raise
        usage = response.usage
        self._settle(hold, usage, response.cost_usd)
        turn = Turn(response.text, (), "ok", usage, response.cost_usd, response.latency_s, response.backend,
                    response.model)
        if response.output is None:
            return None, replace(turn, problems=("(root): the reply holds no JSON object",), kind="schema")
        problems = () if response.backend == "scripted" else tuple(check(response.output))
        if problems:
            return None, replace(turn, problems=problems, kind="check")
        return response.output, turn

    async def _complete(self, request: Request, hold: Any) -> Any:
        """The model's reply, cut off when the wall-clock budget runs out: a call in flight then is cancelled
        and charged its whole reservation (the provider may have billed it)."""
        left = self.ledger.wall_left()
        if not math.isfinite(left):
            return await self.model.complete(request)
        try:
            return await asyncio.wait_for(self.model.complete(request), max(left, 0.0))
        except TimeoutError:
            self.ledger.settle(hold, dict(hold.amounts))
            raise BudgetExhausted("wall", 0.0, 0.0) from None

    def _wanted(self, request: Request) -> dict[str, float]:
        prompt_tokens = sum(estimate_tokens(m.content) for m in request.messages)
        if self.model.name == "scripted":
            return {"tokens": prompt_tokens * 2, "model_calls": 1}
        return {"tokens": prompt_tokens + (self.max_tokens or 1024), "model_calls": 1}

    def _settle(self, hold: Any, usage: Usage, cost: float) -> None:
        self.ledger.settle(hold, {"tokens": usage.prompt_tokens + usage.completion_tokens, "usd": cost,
                                  "model_calls": 1})
