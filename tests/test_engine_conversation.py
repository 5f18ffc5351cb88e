"""A decision as a conversation (team/engine/agents/conversation.py through the AgentRunner): a reply that breaks
a rule goes back with what is wrong, inside the bound it is fixed, else the scripted policy answers; every
turn is charged what the server reported; the transcript keeps what was said; a new rule is one function."""

from __future__ import annotations

import json

import pytest

from roles import checks
from roles.library import builtin_roles
from roles.schemas import Plan, Proposal
from team.engine.agents.runner import AgentRunner
from team.engine.agents.transcripts import TranscriptLog
from team.engine.records.events import EventLog, read_events
from team.engine.records.ledger import Ledger
from team.models import Response, Usage
from team.testing import FunctionModel
from tests.test_policies import _dctx

GOOD = Plan(proposals=[Proposal(config={"lr": 0.01}, rationale="higher lr")])
BAD = Plan(proposals=[Proposal(config={"learning_rate": 0.01})])


def _runner(tmp_path, model, **kw):
    from roles.policies import POLICIES

    return AgentRunner(replica="lead", agent_name="lead", role=builtin_roles()["director"], model=model,
                       ledger=kw.pop("ledger", Ledger({"model_calls": 100})), events=EventLog(tmp_path / "e.jsonl"),
                       policies=POLICIES, retry_delay=0.0, transcripts=TranscriptLog(tmp_path / "transcripts"), **kw)


def _replies(*replies):
    """A model answering with these replies in turn (the last one repeats); `seen` keeps each request."""
    seen = []

    def answer(request):
        seen.append(request)
        reply = replies[min(len(seen) - 1, len(replies) - 1)]
        if isinstance(reply, Plan):  # with usage as a server reports it
            return Response(reply, reply.model_dump_json(), Usage(100 * len(seen), 10), 0.001, 0.0, "m", "test")
        return reply

    model = FunctionModel(answer, name="openai/test")
    model.seen = seen
    return model


def _calls(tmp_path):
    return [r for r in read_events(tmp_path / "e.jsonl") if r["event"] == "model_call"]


async def test_a_reply_that_breaks_a_rule_is_repaired_with_what_is_wrong_and_allowed(tmp_path):
    model = _replies(BAD, GOOD)
    runner = _runner(tmp_path, model)
    thought = await runner.think(_dctx(n=2), round=1, key="plan")
    assert thought.source == "repaired" and thought.output == GOOD
    repair = model.seen[1].messages
    assert [m.role for m in repair] == ["system", "user", "assistant", "user"]
    assert repair[2].content == BAD.model_dump_json()
    assert "unknown knob 'learning_rate'; the task's knobs are lr" in repair[3].content
    [row] = _calls(tmp_path)
    assert row["source"] == "repaired" and row["repairs"] == 1 and "learning_rate" in row["problems"][0]


async def test_replies_that_stay_unusable_fall_back_after_the_bound_without_new_attempts(tmp_path):
    model = _replies("I would try a higher learning rate.")
    runner = _runner(tmp_path, model, attempts=3, repair_turns=2)
    thought = await runner.think(_dctx(n=2), round=1, key="plan")
    assert thought.source == "fallback" and thought.output.proposals  # the scripted director planned
    assert len(model.seen) == 3  # one reply and two repair turns; not 3 attempts x 3 turns
    assert "did not validate" in model.seen[1].messages[-1].content
    [row] = _calls(tmp_path)
    assert row["source"] == "fallback" and row["reason"] == "the reply broke its schema after 2 repair turns"


async def test_every_turn_is_charged_what_the_server_reported(tmp_path):
    ledger = Ledger({"model_calls": 100, "tokens": 10_000})
    runner = _runner(tmp_path, _replies(BAD, BAD, GOOD), ledger=ledger)
    await runner.think(_dctx(n=2), round=1, key="plan")
    assert ledger.spent["tokens"] == (100 + 10) + (200 + 10) + (300 + 10)
    assert ledger.spent["model_calls"] == 3 and ledger.spent["usd"] == pytest.approx(0.003)
    assert ledger.per_role()["director"]["tokens"] == 630
    [row] = _calls(tmp_path)
    assert row["usage"] == {"prompt": 600, "completion": 30, "cached": 0} and row["repairs"] == 2


async def test_the_scripted_backend_is_trusted_unchecked(tmp_path):
    from team.models import ScriptedBackend

    empty = ScriptedBackend({"director": lambda ctx: Plan()})  # would break the proposal count
    runner = _runner(tmp_path, empty)
    thought = await runner.think(_dctx(n=2), round=1, key="plan")
    assert thought.source == "scripted" and thought.output == Plan()


async def test_the_transcript_keeps_the_prompt_every_reply_and_the_repair(tmp_path):
    runner = _runner(tmp_path, _replies(BAD, GOOD))
    await runner.think(_dctx(n=2), round=1, key="plan", parent="m1")
    [row] = [json.loads(line) for line in (tmp_path / "transcripts" / "lead.jsonl").read_text().splitlines()]
    assert row["call"] == "lead/r1/plan" and row["source"] == "repaired" and row["schema"] == "Plan"
    assert "Propose 2 distinct experiments" in row["messages"][1]["content"]
    first, second = row["turns"]
    assert first["kind"] == "check" and "learning_rate" in first["reply"] and first["repair"].startswith("Your reply")
    assert second["kind"] == "ok" and not second["repair"] and row["output"] == GOOD.model_dump(mode="json")


async def test_a_new_rule_is_one_more_check_function(tmp_path, monkeypatch):
    def no_high_lr(ctx, plan):
        return [f"proposals[{i}].config.lr: keep it under 0.005" for i, p in enumerate(plan.proposals)
                if p.config.get("lr", 0) >= 0.005]

    monkeypatch.setitem(checks.CHECKS, "director", (*checks.CHECKS["director"], no_high_lr))
    low = Plan(proposals=[Proposal(config={"lr": 0.001})])
    model = _replies(GOOD, low)
    thought = await _runner(tmp_path, model).think(_dctx(n=2), round=1, key="plan")
    assert thought.source == "repaired" and thought.output == low
    assert "keep it under 0.005" in model.seen[1].messages[-1].content


async def test_a_call_in_flight_when_the_wall_clock_runs_out_is_cancelled_and_charged(tmp_path):
    import asyncio

    from sandbox.errors import BudgetExhausted

    cancelled = asyncio.Event()

    async def hangs(request):
        try:
            await asyncio.sleep(3600)  # a server that never answers
        except asyncio.CancelledError:
            cancelled.set()
            raise

    ledger = Ledger({"wall": 0.5, "model_calls": 100, "tokens": 1e6})
    runner = _runner(tmp_path, FunctionModel(hangs, name="openai/test"), ledger=ledger)
    with pytest.raises(BudgetExhausted, match="wall"):
        await asyncio.wait_for(runner.think(_dctx(n=2), round=1, key="plan"), 60)
    assert cancelled.is_set(), "the hanging call was left running"
    assert ledger.spent["model_calls"] == 1 and ledger.spent["tokens"] > 0  # charged what it reserved
    assert not ledger.open_reservations()


async def test_a_scripted_decision_is_labelled_scripted(tmp_path):
    from roles.policies import POLICIES
    from team.models.scripted import ScriptedBackend

    runner = _runner(tmp_path, ScriptedBackend(POLICIES))
    thought = await runner.think(_dctx(n=2), round=1, key="plan")
    assert thought.source == "scripted" and _calls(tmp_path)[0]["source"] == "scripted"
