"""Offline model backends: scripted role policies, the team.testing doubles, cassettes (record, strict
replay, nearest-key misses, replay-then-live), make_model, and that importing synthteam never loads litellm."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from pydantic import BaseModel

from sandbox.errors import ConfigError, ModelError, ModelOutputError
from team.models import (
    Message,
    Model,
    Recorder,
    ReplayBackend,
    Request,
    Response,
    Sampling,
    ScriptedBackend,
    make_model,
    request_key,
)
from team.testing import FunctionModel, ScriptedModel


class Proposal(BaseModel):
    lr: float
    steps: int


class Card(BaseModel):
    best_lr: float


def ask(context=None, text="propose", output_type=Proposal, **meta) -> Request:
    meta = {"agent": "director", "role": "director", "round": 2, **meta}
    return Request((Message("system", "You lead."), Message("user", text)), output_type,
                   Sampling(seed=1), meta, context)


# -- scripted backend -------------------------------------------------------------------------------

def director(card: Card) -> Proposal:
    return Proposal(lr=card.best_lr / 2, steps=100)


async def careful_engineer(card: Card) -> Proposal:
    await asyncio.sleep(0)
    return Proposal(lr=card.best_lr, steps=10)


async def test_scripted_backend_runs_the_roles_policy_on_the_context():
    model = make_model("scripted", policies={"director": director, "engineer": careful_engineer})
    response = await model.complete(ask(Card(best_lr=0.01)))
    assert response.output == Proposal(lr=0.005, steps=100)
    assert response.text == response.output.model_dump_json()
    assert response.backend == "scripted" and response.cost_usd == 0.0
    assert response.usage.prompt_tokens == (len("You lead.") + 3) // 4 + (len("propose") + 3) // 4
    assert response.usage.completion_tokens == (len(response.text) + 3) // 4


async def test_scripted_backend_prefers_the_policy_key_and_awaits_async_policies():
    model = ScriptedBackend({"director": director, "engineer": careful_engineer})
    response = await model.complete(ask(Card(best_lr=0.01), policy="engineer"))
    assert response.output == Proposal(lr=0.01, steps=10)


async def test_scripted_backend_names_the_missing_role_and_the_known_policies():
    model = ScriptedBackend({"director": director, "engineer": careful_engineer})
    with pytest.raises(ModelError, match=r"no scripted policy for role 'critic' \(known: director, engineer\)"):
        await model.complete(ask(Card(best_lr=0.1), role="critic", agent="critic-1"))


async def test_scripted_policy_returning_the_wrong_type_is_an_output_error():
    model = ScriptedBackend({"director": lambda card: Card(best_lr=1.0)})
    with pytest.raises(ModelOutputError, match="returned Card, expected Proposal"):
        await model.complete(ask(Card(best_lr=0.1)))


# -- test doubles -----------------------------------------------------------------------------------

async def test_scripted_model_serves_queued_replies_and_records_calls():
    boom = ModelError("provider down")
    model = ScriptedModel([Proposal(lr=0.1, steps=1), '{"lr": 0.2, "steps": 2}',
                           lambda request: Proposal(lr=0.3, steps=len(request.messages)), boom])
    outputs = [(await model.complete(ask(text=f"call {i}"))).output for i in range(3)]
    assert outputs == [Proposal(lr=0.1, steps=1), Proposal(lr=0.2, steps=2), Proposal(lr=0.3, steps=2)]
    with pytest.raises(ModelError, match="provider down"):
        await model.complete(ask())
    assert [c.messages[1].content for c in model.calls] == ["call 0", "call 1", "call 2", "propose"]
    model.assert_complete()
    assert isinstance(model, Model)


async def test_scripted_model_reports_unused_replies_and_invalid_text():
    model = ScriptedModel(['{"lr": "fast"}', Proposal(lr=1, steps=1)])
    with pytest.raises(ModelOutputError, match="lr: Input should be a valid number"):
        await model.complete(ask())
    with pytest.raises(AssertionError, match="1 replies were never used"):
        model.assert_complete()
    await model.complete(ask())
    with pytest.raises(AssertionError, match="no reply left for call 3"):
        await model.complete(ask())


async def test_function_model_answers_sync_and_async():
    async def slow(request: Request) -> str:
        await asyncio.sleep(0)
        return json.dumps({"lr": request.sampling.seed, "steps": 5})

    fixed = Response(output=None, text="plain", model="m", backend="b")
    assert (await FunctionModel(slow).complete(ask())).output == Proposal(lr=1, steps=5)
    assert (await FunctionModel(lambda r: fixed).complete(ask())) is fixed
    untyped = await FunctionModel(lambda r: "free text").complete(ask(output_type=None))
    assert untyped.output is None and untyped.text == "free text"


# -- cassettes --------------------------------------------------------------------------------------

def _numbered(request: Request) -> Proposal:
    return Proposal(lr=0.1, steps=int(request.messages[1].content.split()[-1]))


async def test_recorder_keeps_every_concurrent_call_on_its_own_line(tmp_path):
    cassette = tmp_path / "run" / "calls.jsonl"
    model = Recorder(FunctionModel(_numbered, name="fn"), cassette)
    await asyncio.gather(*(model.complete(ask(text=f"job {i}")) for i in range(50)))
    rows = [json.loads(line) for line in cassette.read_text().splitlines()]
    assert sorted(json.loads(r["response"]["text"])["steps"] for r in rows) == list(range(50))
    assert rows[0]["key"] == request_key("fn", ask(text=rows[0]["request"]["messages"][1][1]))
    assert rows[0]["metadata"]["agent"] == "director"


async def test_strict_replay_reproduces_outputs_and_replays_repeats_in_order(tmp_path):
    cassette = tmp_path / "calls.jsonl"
    replies = ScriptedModel([Proposal(lr=0.1, steps=1), Proposal(lr=0.2, steps=2), Proposal(lr=0.3, steps=3)],
                            name="m")
    recorder = Recorder(replies, cassette)
    recorded = [await recorder.complete(ask(text=t)) for t in ("a", "a", "b")]
    replay = ReplayBackend(cassette, model="m")
    replayed = [await replay.complete(ask(text=t)) for t in ("b", "a", "a", "a")]
    assert [r.output for r in replayed] == [recorded[2].output, recorded[0].output,
                                            recorded[1].output, recorded[1].output]
    assert replayed[0].usage == recorded[2].usage


async def test_strict_replay_miss_names_the_nearest_key_and_what_differs(tmp_path):
    cassette = tmp_path / "calls.jsonl"
    recorder = Recorder(FunctionModel(_numbered, name="m"), cassette)
    for i in (1, 2, 30):
        await recorder.complete(ask(text=f"run job {i}"))
    replay = make_model(f"replay:{cassette}")
    nearest = request_key("m", ask(text="run job 30"))
    with pytest.raises(ModelError) as info:
        await replay.complete(ask(text="run job 31"))
    message = str(info.value)
    assert message.startswith(f"agent director round 2: no recording for key {request_key('m', ask(text='run job 31'))[:12]}")
    assert message.endswith(f"nearest {nearest[:12]} differs in messages[1]")
    with pytest.raises(ModelError, match=r"differs in sampling.seed"):
        await replay.complete(Request(ask(text="run job 2").messages, Proposal, Sampling(seed=9), {"role": "x"}))


async def test_replay_then_live_falls_back_and_records_the_new_call(tmp_path):
    cassette = tmp_path / "calls.jsonl"
    await Recorder(FunctionModel(_numbered, name="fn"), cassette).complete(ask(text="job 1"))
    live = FunctionModel(_numbered, name="fn")
    replay = ReplayBackend(cassette, mode="then_live", live=Recorder(live, cassette), model="fn")
    assert (await replay.complete(ask(text="job 1"))).backend == "replay"
    assert (await replay.complete(ask(text="job 7"))).output.steps == 7
    assert len(live.calls) == 1 and len(cassette.read_text().splitlines()) == 2


def test_bad_cassettes_and_modes_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cassette not found"):
        make_model(f"replay:{tmp_path / 'missing.jsonl'}")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"key": "k"}\n')
    with pytest.raises(ConfigError, match=r"broken.jsonl:1: not a cassette line"):
        ReplayBackend(broken)
    with pytest.raises(ConfigError, match="needs a live model"):
        ReplayBackend(broken, mode="then_live")
    with pytest.raises(ConfigError, match="bad price"):
        make_model("openai/x", price={"input_per_mtok": -1, "output_per_mtok": 1})


# -- import laziness --------------------------------------------------------------------------------

def test_importing_synthteam_and_building_models_does_not_import_litellm():
    code = (
        "import sys, team, team.models, team.testing, roles, tasks, sandbox\n"
        "from team.models import make_model\n"
        "make_model('openai/gpt-4o-mini', api_base='http://127.0.0.1:9/v1', rpm=60)\n"
        "make_model('scripted')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'openai', 'torch')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
