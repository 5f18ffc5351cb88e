"""Test doubles at the two seams. Models: `ScriptedModel` serves queued replies and records the requests it
saw; `FunctionModel` answers with a function of the request; `FlakyModel` injects faults into a real model.
Executors: `ScriptedExecutor` runs no process — a job "trains" in a moment to a dev score that is a
function of its config, and leaves a small real `final_model/` that merges and evaluations can read;
`CrashingExecutor` injects crashes into a real executor. Prefer them to mocks.
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
from team.models.structured import error_lines, error_summary, parse_output

__all__ = ["ScriptedModel", "FunctionModel", "FlakyModel", "CrashingExecutor", "ScriptedExecutor", "toy_score",
           "toy_verify"]

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
        raise ModelOutputError(f"{name}: reply invalid: {error_summary(exc)}", text=text, problems=error_lines(exc),
                               usage=usage_from_text(request, text)) from None


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
        for name in ("notice", "isolation", "slots", "term_grace"):
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


def toy_score(config: dict, seed: int) -> float:
    """A smooth, seeded dev score in [0, 1]: best at lr 3e-3 and batch 32, a little seed noise."""
    import math
    import random

    lr, batch = float(config.get("lr", 1e-3)), float(config.get("batch_size", 32))
    peak = math.exp(-(math.log10(lr / 3e-3) ** 2) * 1.5 - (math.log2(batch / 32) ** 2) * 0.1)
    return round(min(max(0.9 * peak + random.Random(seed).uniform(-0.02, 0.02), 0.0), 1.0), 4)


class ScriptedExecutor:
    """Runs no process: a training job takes `seconds` and scores `score(config, seed)` (plus `code_bonus` for
    each code operator its train.py carries), streaming it as its dev curve and leaving `final_model/` (a
    config.json and a one-tensor model.pt holding the score, so soups average it); a dev-evaluation job
    writes the mean of its model's tensor to dev_eval.json, as the harness's scorer does. Cancel and the
    job-id contract behave as the real executors' do."""

    term_grace = 0.0
    notice = None
    isolation = "scripted"

    def __init__(self, root, score=toy_score, seconds: float = 0.01, code_bonus: float = 0.02, charge: float = 0.0):
        from pathlib import Path

        self.root, self.score, self.seconds, self.code_bonus = Path(root), score, seconds, code_bonus
        self.charge = charge  # a job reports at least this share of its time limit as used (a real job's use)
        self.submitted: list[Any] = []
        self._cancelled: set[str] = set()

    async def submit(self, job: Any) -> Any:
        from sandbox.jobs import JobHandle

        self.submitted.append(job)
        (self.root / job.job_id).mkdir(parents=True, exist_ok=False)
        return JobHandle(job.job_id, job)

    async def wait(self, handle: Any) -> Any:
        import asyncio

        job, workdir = handle.job, self.root / handle.job_id
        start = time.perf_counter()
        step = 0.0
        while step < self.seconds and handle.job_id not in self._cancelled:
            await asyncio.sleep(min(0.01, self.seconds - step))
            step = time.perf_counter() - start
        if handle.job_id in self._cancelled:
            return self._result(job, workdir, "cancelled", (), step)
        if job.metadata.get("kind") == "dev_eval":
            import json

            accuracy = _tensor_mean(job.metadata["model_dir"])
            (workdir / "dev_eval.json").write_text(json.dumps({"accuracy": accuracy, "stderr": 0.0, "n": 256}))
            return self._result(job, workdir, "ok", ({"accuracy": accuracy},), step)
        config = dict(job.metadata.get("config") or {})
        code = str(job.files.get("train.py", "")).count("[operator: ")  # code operators applied to the program
        dev = round(min(self.score(config, int(config.get("seed", 0))) + self.code_bonus * code, 1.0), 4)
        _save_toy_model(workdir / "final_model", dev)
        rows = ({"step": 50, "train_loss": 2.0}, {"step": 50, "dev_accuracy": round(dev / 2, 4)},
                {"step": 100, "train_loss": 1.0}, {"step": 100, "dev_accuracy": dev})
        return self._result(job, workdir, "ok", rows, step, f"status: ok\ndev_accuracy: {dev}\n")

    async def cancel(self, handle: Any) -> None:
        self._cancelled.add(handle.job_id)

    async def metrics(self, handle: Any):
        for row in (await self.wait(handle)).metrics:
            yield row

    def _result(self, job: Any, workdir: Any, status: str, metrics: tuple, seconds: float, stdout: str = "") -> Any:
        from sandbox.jobs import JobResult, JobStatus

        limit = job.limits.cpu_seconds or job.limits.wall_seconds  # the clock the job is limited by
        seconds = max(seconds, self.charge * limit) if status == "ok" else seconds
        return JobResult(job.job_id, JobStatus(status), 0 if status == "ok" else None, tuple(metrics), workdir,
                         seconds, seconds, None, stdout, "", ("cpu:0",), dict(job.metadata),
                         "" if status == "ok" else "cancelled by request")


def _save_toy_model(out: Any, dev: float) -> None:
    import json

    import torch

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"arch": "toy"}))
    torch.save({"score": torch.tensor([float(dev)])}, out / "model.pt")


def _tensor_mean(model_dir: str) -> float:
    from pathlib import Path

    import torch

    state = torch.load(Path(model_dir) / "model.pt", weights_only=True)
    return round(float(state["score"].mean()), 4)


def toy_verify(model_dir: Any, task: Any, workspace: Any = None) -> dict:
    """The verifier's verdict for a ScriptedExecutor's toy model: its score as the test score."""
    if model_dir is None:
        return {"baseline_score": 0.0, "test_score": 0.0, "n": 0,
                "flags": [{"flag": "missing_model", "reason": "no final model"}]}
    return {"baseline_score": 0.0, "test_score": _tensor_mean(model_dir), "n": 0, "flags": []}


class CheatingEngineer:
    """An adversarial engineer: every job it is asked for runs a cheating program from `tasks.cheats` (fake
    dev scores, the test split, writes outside the work dir, the decoy, the network) as its patch; every
    other decision (a plan, when it is an entry agent) comes from the scripted policy. Wrap an engineer's
    model with it through `Hooks(model=...)` to check that the sandbox, the seal and the harness hold."""

    def __init__(self, cheat: str):
        from tasks.cheats import CHEATS

        if cheat not in CHEATS:
            raise ValueError(f"unknown cheat {cheat!r} (known: {', '.join(CHEATS)})")
        self.cheat, self.program, self.name = cheat, CHEATS[cheat], f"cheat:{cheat}"
        self.jobs = 0

    async def complete(self, request: Request) -> Response:
        from roles.policies import POLICIES
        from roles.schemas import JobSpec

        start = time.perf_counter()
        ctx = request.context
        if request.output_type is JobSpec:
            self.jobs += 1
            output: BaseModel = JobSpec(config=dict(ctx.proposal), seed=ctx.seed, wall_seconds=ctx.wall_seconds,
                                        patch={"files": {"train.py": self.program}}, note=f"cheat: {self.cheat}")
        else:
            output = POLICIES[request.metadata["policy"]](ctx)
        text = output.model_dump_json()
        return Response(output=output, text=text, usage=usage_from_text(request, text),
                        latency_s=time.perf_counter() - start, model=self.name, backend="test")
