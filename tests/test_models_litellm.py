"""The litellm backend against a real OpenAI-protocol HTTP server on 127.0.0.1: structured replies,
repair turns, retries, timeouts, rate limits, usage and cost, and recording for replay."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from sandbox.errors import ConfigError, ModelError, ModelOutputError
from team.models import Message, ProviderLimits, Request, Sampling, make_model
from tests.openai_server import OpenAIServer

FAST = {"backoff": (0.001, 0.01), "timeout": 5}


class Verdict(BaseModel):
    decision: str
    score: float


def ask(text: str = "review job 7", output_type: type[BaseModel] | None = Verdict, **meta: object) -> Request:
    meta = {"agent": "critic-0", "role": "critic", "round": 1, **meta}
    return Request((Message("system", "You are a critic."), Message("user", text)), output_type,
                   Sampling(temperature=0.0, seed=3), meta)


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


async def test_structured_reply_uses_response_format_when_supported(server):
    server.reply_json({"decision": "accept", "score": 0.9}, prompt_tokens=50, cached_tokens=20)
    model = make_model("openai/gpt-4o-mini", api_base=server.url, **FAST)
    response = await model.complete(ask())
    assert response.output == Verdict(decision="accept", score=0.9)
    assert response.usage.prompt_tokens == 50 and response.usage.cached_tokens == 20
    sent = server.requests[0]
    assert sent["response_format"]["json_schema"]["schema"] == Verdict.model_json_schema()
    assert sent["seed"] == 3 and sent["temperature"] == 0.0


async def test_schema_goes_into_instructions_without_native_support(server):
    server.reply('```json\n{"decision": "revise", "score": 0.4}\n```')
    model = make_model("openai/my-local-model", api_base=server.url, **FAST)
    response = await model.complete(ask())
    assert response.output == Verdict(decision="revise", score=0.4)
    sent = server.requests[0]
    assert "response_format" not in sent
    system = sent["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You are a critic.")
    assert json.dumps(Verdict.model_json_schema(), sort_keys=True) in system["content"]


async def test_invalid_reply_is_repaired_with_the_validation_error(server):
    server.reply('{"decision": "accept"}').reply_json({"decision": "accept", "score": 1.0})
    model = make_model("openai/my-local-model", api_base=server.url, **FAST)
    response = await model.complete(ask())
    assert response.output.score == 1.0
    repair = server.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"decision": "accept"}'}
    assert "score: Field required" in repair[-1]["content"]
    assert response.usage.prompt_tokens == 20  # both turns are counted


async def test_reply_that_stays_invalid_raises_after_bounded_repairs(server):
    for _ in range(3):
        server.reply("I think it is fine.")
    model = make_model("openai/my-local-model", api_base=server.url, repair_turns=2, **FAST)
    with pytest.raises(ModelOutputError, match=r"agent critic-0 round 1: reply invalid after 2 repair turns"):
        await model.complete(ask())
    assert len(server.requests) == 3


async def test_rate_limited_then_success(server):
    server.rate_limit(retry_after=0).rate_limit(retry_after=0).reply_json({"decision": "accept", "score": 1})
    model = make_model("openai/my-local-model", api_base=server.url, **FAST)
    response = await model.complete(ask())
    assert response.output.decision == "accept"
    assert len(server.requests) == 3


async def test_server_errors_exhaust_retries_with_one_clear_line(server):
    for _ in range(5):
        server.fail(500)
    model = make_model("openai/x", api_base=server.url, max_retries=3, **FAST)
    with pytest.raises(ModelError) as info:
        await model.complete(ask())
    message = str(info.value)
    assert message == f"openai/x at {server.url}: 500 Internal Server Error after 4 tries"
    assert "\n" not in message
    assert len(server.requests) == 4


async def test_client_errors_are_not_retried(server):
    server.fail(400, "messages: bad role")
    model = make_model("openai/x", api_base=server.url, **FAST)
    with pytest.raises(ModelError, match="400 Bad Request"):
        await model.complete(ask())
    assert len(server.requests) == 1


async def test_timeout_is_retried_then_reported(server):
    server.stall(2.0).stall(2.0)
    model = make_model("openai/x", api_base=server.url, backoff=(0.001, 0.01), timeout=0.3, max_retries=1)
    with pytest.raises(ModelError, match=r"timed out \(limit 0.3 s\) after 2 tries"):
        await model.complete(ask())


async def test_concurrent_calls_share_one_rpm_limiter_that_holds_the_next_call_back():
    # Two Models of the same provider share one limiter: 600 requests/min is one request per 0.1 s, so right
    # after a call the limiter has no capacity for another (that call waits); all calls still arrive.
    with OpenAIServer(handler=lambda body: _verdict_body()) as srv:
        limits = ProviderLimits()
        models = [make_model("openai/x", api_base=srv.url, rpm=600, limits=limits, **FAST) for _ in range(2)]
        assert models[0].limiter is models[1].limiter
        await models[0].complete(ask("warm-up"))
        assert not models[0].limiter._requests.has_capacity()  # the next request of either model must wait
        await asyncio.gather(*(models[i % 2].complete(ask(f"job {i}")) for i in range(6)))
        assert len(srv.arrivals) == 7
        other = make_model("openai/x", api_base=srv.url, rpm=1200, limits=limits, **FAST)
        assert other.limiter is not models[0].limiter  # other limits: a limiter of their own


async def test_cost_from_yaml_price_and_zero_for_local(server):
    server.reply_json({"decision": "accept", "score": 1}, prompt_tokens=1_000_000, completion_tokens=500_000)
    server.reply_json({"decision": "accept", "score": 1}, prompt_tokens=1_000_000, completion_tokens=500_000)
    priced = make_model("openai/x", api_base=server.url,
                        price={"input_per_mtok": 3.0, "output_per_mtok": 15.0}, **FAST)
    local = make_model("hosted_vllm/qwen", api_base=server.url, **FAST)
    assert (await priced.complete(ask())).cost_usd == pytest.approx(3.0 + 7.5)
    response = await local.complete(ask())
    assert response.cost_usd == 0.0 and response.usage.completion_tokens == 500_000


async def test_unpriced_unknown_remote_model_is_refused_before_any_call():
    model = make_model("openai/no-such-model-in-the-map", api_key="sk-test", **FAST)
    with pytest.raises(ConfigError, match="not in litellm's price map"):
        await model.complete(ask())


async def test_mapped_model_is_priced_from_litellm_map():
    from team.models.base import Usage
    from team.models.litellm_backend import load_litellm
    from team.models.pricing import Pricing

    litellm = await load_litellm()
    pricing = Pricing.resolve(litellm, "openai/gpt-4o-mini", None, None)
    per_in, per_out = litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=1, completion_tokens=1)
    assert pricing.cost(litellm, Usage(1000, 100)) == pytest.approx(1000 * per_in + 100 * per_out)


async def test_record_then_strict_replay_without_the_server(tmp_path):
    cassette = tmp_path / "calls.jsonl"
    with OpenAIServer() as srv:
        srv.reply_json({"decision": "accept", "score": 0.75}, prompt_tokens=30)
        srv.reply_json({"decision": "reject", "score": 0.1}, prompt_tokens=31)
        live = make_model("openai/x", api_base=srv.url, record=cassette, **FAST)
        first = [await live.complete(ask("job 1")), await live.complete(ask("job 2"))]
    replay = make_model("openai/x", api_base="http://127.0.0.1:9/v1", replay=cassette, **FAST)
    again = [await replay.complete(ask("job 2")), await replay.complete(ask("job 1"))]
    assert [r.output for r in again] == [first[1].output, first[0].output]
    assert [r.usage for r in again] == [first[1].usage, first[0].usage]
    assert all(r.backend == "replay" for r in again)
    replay_only = make_model(f"replay:{cassette}")
    assert (await replay_only.complete(ask("job 1"))).output == first[0].output


def _verdict_body() -> dict:
    from tests.openai_server import completion_body

    return completion_body(json.dumps({"decision": "accept", "score": 1.0}))


async def test_unreachable_server_is_retried_then_named():
    model = make_model("openai/x", api_base="http://127.0.0.1:9/v1", max_retries=1, **FAST)
    with pytest.raises(ModelError, match=r"^openai/x at http://127.0.0.1:9/v1: connection failed .* after 2 tries$"):
        await model.complete(ask())


async def test_token_limit_holds_back_a_call_that_would_exceed_the_minute():
    # 6000 tokens/min: the minute's allowance is there at once; once it is spent, the next call waits.
    from team.models.limits import RateLimiter

    limiter = RateLimiter(rpm=None, tpm=6000)
    assert limiter._tokens.has_capacity(6000)
    await limiter.acquire(6000)
    assert not limiter._tokens.has_capacity(30)  # 30 more tokens would pass the minute's limit: the call waits
    await limiter.acquire(30)  # and goes through once they have drained
    assert not limiter._tokens.has_capacity(6000)
