"""Model-layer speed: the framework's overhead per call over a zero-latency backend (goal <= 0.2 ms) and
1,000 concurrent calls at 50 ms simulated latency (goal: all done within 1.2 x one latency).
Run: `.venv/bin/python benchmarks/bench_models.py [--calls N] [--litellm]`; prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from team.models import Message, Model, Recorder, ReplayBackend, Request, Sampling, ScriptedBackend  # noqa: E402
from team.testing import FunctionModel  # noqa: E402

LATENCY_S = 0.05
REPEATS = 5  # best of: the machine is shared, the minimum is the least disturbed run


class Proposal(BaseModel):
    lr: float
    steps: int


def _request(i: int, role: str = "engineer") -> Request:
    messages = (Message("system", "You are an engineer. " * 20), Message("user", f"Propose job {i}."))
    return Request(messages, Proposal, Sampling(seed=0), {"agent": f"{role}-{i % 8}", "role": role, "round": 1},
                   context=i)


def _policy(context: int) -> Proposal:
    return Proposal(lr=1e-3, steps=context)


async def _slow_policy(context: int) -> Proposal:
    await asyncio.sleep(LATENCY_S)
    return Proposal(lr=1e-3, steps=context)


async def _per_call_us(model: Model, calls: int, requests: list[Request]) -> float:
    for r in requests[:100]:  # warm up
        await model.complete(r)
    start = time.perf_counter()
    for i in range(calls):
        await model.complete(requests[i % len(requests)])
    return (time.perf_counter() - start) / calls * 1e6


async def _bare_sleep_ms(n: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(asyncio.sleep(LATENCY_S) for _ in range(n)))
    return (time.perf_counter() - start) * 1e3


async def _concurrent_ms(model: Model, n: int) -> float:
    requests = [_request(i) for i in range(n)]
    start = time.perf_counter()
    await asyncio.gather(*(model.complete(r) for r in requests))
    return (time.perf_counter() - start) * 1e3


def _overhead_models(tmp: Path) -> list[tuple[str, Model]]:
    scripted = ScriptedBackend({"engineer": _policy})
    cassette = tmp / "bench.jsonl"
    return [
        ("scripted backend", scripted),
        ("FunctionModel", FunctionModel(lambda r: Proposal(lr=1e-3, steps=r.context))),
        ("recorder(scripted)", Recorder(ScriptedBackend({"engineer": _policy}), cassette)),
        ("replay (cassette hit)", None),  # built after the recorder has written the cassette
    ]


async def _overhead_rows(calls: int) -> list[tuple[str, str, str]]:
    requests = [_request(i) for i in range(256)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, model in _overhead_models(Path(tmp)):
            model = model or ReplayBackend(Path(tmp) / "bench.jsonl", model="scripted")
            us = min([await _per_call_us(model, calls, requests) for _ in range(3)])
            rows.append((f"overhead/call: {label}", f"{us:.1f} us", "ok" if us <= 200 else "MISSED (<= 200 us)"))
    return rows


async def _concurrency_rows(n: int) -> list[tuple[str, str, str]]:
    goal = 1.2 * LATENCY_S * 1e3
    cases: list[tuple[str, Callable[[], Model]]] = [
        ("scripted backend (async policy)", lambda: ScriptedBackend({"engineer": _slow_policy})),
        ("FunctionModel (async sleep)", lambda: FunctionModel(lambda r: _slow_policy(r.context))),
    ]
    floor = min([await _bare_sleep_ms(n) for _ in range(REPEATS)])
    rows = [(f"{n} concurrent @ 50 ms: bare asyncio.sleep (floor)", f"{floor:.1f} ms", "reference")]
    for label, build in cases:
        ms = min([await _concurrent_ms(build(), n) for _ in range(REPEATS)])
        rows.append((f"{n} concurrent @ 50 ms: {label}", f"{ms:.1f} ms", "ok" if ms <= goal else f"MISSED (<= {goal:.0f} ms)"))
    return rows


async def _litellm_rows(n: int) -> list[tuple[str, str, str]]:
    """Informational: the litellm path end to end against the local test server (network included)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from openai_server import OpenAIServer, completion_body

    from team.models import make_model

    body = completion_body('{"lr": 0.001, "steps": 1}')
    with OpenAIServer(handler=lambda request: body) as server:
        model = make_model("openai/bench", api_base=server.url)
        await model.complete(_request(0))  # imports litellm
        seq = await _per_call_us(model, 200, [_request(i) for i in range(16)])
        conc = await _concurrent_ms(model, n)
    return [("litellm -> local server: per call", f"{seq / 1e3:.2f} ms", "info"),
            (f"litellm -> local server: {n} concurrent", f"{conc:.0f} ms", "info")]


def _print(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{width}} | {'result':>10} | goal |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|------|")
    for name, value, verdict in rows:
        print(f"| {name:<{width}} | {value:>10} | {verdict} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000, help="sequential calls per overhead row")
    parser.add_argument("--concurrent", type=int, default=1_000)
    parser.add_argument("--litellm", action="store_true", help="also time litellm against a local server")
    args = parser.parse_args()
    rows = await _overhead_rows(args.calls) + await _concurrency_rows(args.concurrent)
    if args.litellm:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        rows += await _litellm_rows(min(args.concurrent, 100))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    _print(rows)


if __name__ == "__main__":
    asyncio.run(main())
