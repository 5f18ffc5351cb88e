"""Orchestrator speed: the per-message cost of the real AgentRunner path over a zero-latency scripted model
(goal <= 0.2 ms per message), and per-step overhead of a director -> N engineers -> N critics -> editor graph,
ours versus LangGraph (goal: ours <= 1/3 of LangGraph's). LangGraph runs twice: with no-op nodes, and with
nodes doing the same work as ours (AgentRunner.think on the same runners); the node work alone is timed
too, so each side's overhead is its per-step time minus that work. Run: `.venv/bin/python benchmarks/bench_runtime.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import operator
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roles.context import (  # noqa: E402
    CriticContext,
    DirectorContext,
    EditorContext,
    EngineerContext,
    Experiment,
    JobOutcome,
    Knob,
    TaskCard,
)
from roles.library import builtin_roles, render_prompt  # noqa: E402
from roles.policies import POLICIES  # noqa: E402
from roles.schemas import JobSpec, MergeDecision, Plan, Proposal, Verdict  # noqa: E402
from team.engine.agents import AgentRunner  # noqa: E402
from team.engine.events import EventLog  # noqa: E402
from team.engine.ledger import Ledger  # noqa: E402
from team.engine.transcripts import TranscriptLog  # noqa: E402
from team.models import ScriptedBackend  # noqa: E402

GOAL_US = 200.0
REPEATS = 3  # best of: the machine is shared, the minimum is the least disturbed run
CARD = TaskCard("bench", "a small classification task", (Knob("lr", "float", 1e-5, 1e-2, True, (), 1e-3),
                Knob("epochs", "int", 1, 10, False, (), 3)), {"lr": 1e-3, "epochs": 3}, ("no test data",), 60.0)
OUTCOME = JobOutcome("job-1", {"lr": 1e-3, "epochs": 3}, 0, "ok", 0.81, ((100, 0.7), (200, 0.81)),
                     ((100, 1.2), (200, 0.8)), "", 12.0)
CONTEXTS = {
    "director": DirectorContext(CARD, 1, 8, (Experiment("job-0", {"lr": 1e-3}, 0, "ok", 0.7, "accept", 0),), 0.7,
                                4, 0, 3),
    "engineer": EngineerContext(CARD, 1, {"lr": 1e-3, "epochs": 3}, "try the reference"),
    "critic": CriticContext(CARD, 1, OUTCOME, 0.7, 0.01, revisions_left=1),
    "editor": EditorContext(CARD, 1, "best", (Experiment("job-1", {"lr": 1e-3}, 0, "ok", 0.81, "accept", 1),)),
}
OUTPUTS = {  # precomputed answers: the scripted model returns them instantly
    "director": Plan(proposals=[Proposal(config={"lr": 1e-3, "epochs": 3}, rationale="reference")]),
    "engineer": JobSpec(config={"lr": 1e-3, "epochs": 3}, wall_seconds=60.0),
    "critic": Verdict(decision="accept", reasons=["dev 0.81 beats 0.70 by more than 2x noise"]),
    "editor": MergeDecision(policy="best", members=["job-1"]),
}


@contextlib.contextmanager
def no_fsync():
    """Make os.fsync a no-op (this benchmark only), to show what the per-row durability costs."""
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


class Rig:
    """A real Ledger and EventLog (in a temp dir) and AgentRunners built the way team/assemble.py builds them."""

    def __init__(self, tmp: Path):
        self.model = ScriptedBackend({k: (lambda ctx, out=v: out) for k, v in OUTPUTS.items()})
        self.ledger = Ledger({"tokens": 1e15, "model_calls": 1e12, "usd": 1e9})
        self.events = EventLog(tmp / "events.jsonl", run="bench")
        self.keys = iter(range(10**12))
        self.tmp = tmp

    def runner(self, role: str, replica: str) -> AgentRunner:
        return AgentRunner(replica=replica, agent_name=role, role=builtin_roles()[role], model=self.model,
                           ledger=self.ledger, events=self.events, memo={}, policies=POLICIES, temperature=0.7,
                           max_tokens=None, attempts=3, transcripts=TranscriptLog(self.tmp / "transcripts"))

    async def think(self, runner: AgentRunner, role: str) -> Any:
        return await runner.think(CONTEXTS[role], round=1, key=f"m{next(self.keys)}")


async def timed_us(fn: Callable[[], Awaitable[Any]], units: int) -> float:
    """µs per unit of work for one `fn()` call doing `units` units: best of REPEATS, after a warm-up call."""
    await fn()
    best = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - t)
    return best / units * 1e6


def loop(fn: Callable[[], Any], n: int) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        for _ in range(n):
            r = fn()
            if asyncio.iscoroutine(r):
                await r
    return run


async def fanout_us(rig: Rig, n: int) -> float:
    runners = [rig.runner("critic", f"critic[{i}]") for i in range(n)]
    return await timed_us(lambda: asyncio.gather(*(rig.think(r, "critic") for r in runners)), n)


async def part_a(rig: Rig, n: int, fan: int) -> list[tuple[str, float]]:
    runner = rig.runner("critic", "critic[0]")
    ctx, verdict = CONTEXTS["critic"], OUTPUTS["critic"]
    think = loop(lambda: rig.think(runner, "critic"), n)
    rows = [("think(): full path (render, reserve/settle, model, event row; fsync only on durable rows)", await timed_us(think, n))]
    with no_fsync():
        rows.append(("think(): same, os.fsync patched to a no-op (bench only)", await timed_us(think, n)))
    rows.append((f"fan-out: {fan} concurrent think() under gather, with fsync", await fanout_us(rig, fan)))
    with no_fsync():
        rows.append((f"fan-out: {fan} concurrent think(), fsync no-op", await fanout_us(rig, fan)))
    rows.append(("  part: render_prompt(critic) alone", await timed_us(loop(lambda: render_prompt(runner.role, ctx), n), n)))
    rows.append(("  part: bare policy call (precomputed Verdict)", await timed_us(loop(lambda: (lambda c: verdict)(ctx), n), n)))
    rows.append(("  part: bare roles.policies.critic(ctx)", await timed_us(loop(lambda: POLICIES["critic"](ctx), n), n)))
    return rows


# -- part (b): the same fan-out graph, LangGraph versus ours ------------------------------------------------

class GraphState(TypedDict):
    plan: dict
    results: Annotated[list, operator.add]
    merged: dict


def langgraph_graph(n: int, counter: list[int], work: Callable[[str, int], Awaitable[Any]] | None = None) -> Any:
    """The fan-out graph in LangGraph; with `work`, every node first does the same work as ours
    (`await work(role, replica)`: AgentRunner.think on the same runners), else nodes are no-ops."""
    from langgraph.graph import END, START, StateGraph

    def node(name: str, out: Callable[[], dict]) -> Callable:
        role, _, index = name.partition("_")

        async def run(state: GraphState) -> dict:
            counter[0] += 1
            if work is not None:
                await work(role, int(index or 0))
            return out()
        run.__name__ = name
        return run

    g = StateGraph(GraphState)
    g.add_node("director", node("director", lambda: {"plan": {"n": n}}))
    g.add_node("editor", node("editor", lambda: {"merged": {"best": "job-1"}}))
    g.add_edge(START, "director")
    for i in range(n):
        g.add_node(f"engineer_{i}", node(f"engineer_{i}", lambda i=i: {"results": [("job", i)]}))
        g.add_node(f"critic_{i}", node(f"critic_{i}", lambda i=i: {"results": [("verdict", i)]}))
        g.add_edge("director", f"engineer_{i}")
        g.add_edge(f"engineer_{i}", f"critic_{i}")
    g.add_edge([f"critic_{i}" for i in range(n)], "editor")
    g.add_edge("editor", END)
    return g.compile()


async def ours_graph(rig: Rig, runners: dict[str, list[AgentRunner]], counter: list[int]) -> None:
    async def step(runner: AgentRunner, role: str) -> Any:
        counter[0] += 1
        return await rig.think(runner, role)

    async def lane(i: int) -> None:
        await step(runners["engineer"][i], "engineer")
        await step(runners["critic"][i], "critic")

    await step(runners["director"][0], "director")
    await asyncio.gather(*(lane(i) for i in range(len(runners["engineer"]))))
    await step(runners["editor"][0], "editor")


async def think_only(rig: Rig, runners: dict[str, list[AgentRunner]], counter: list[int]) -> None:
    """The node work alone, no graph: the same 2n+2 think() calls one after another."""
    for role in ("director", "engineer", "critic", "editor"):
        for runner in runners[role]:
            counter[0] += 1
            await rig.think(runner, role)


async def plain_graph(n: int, counter: list[int]) -> None:
    async def step(out: dict) -> dict:
        counter[0] += 1
        return out

    async def lane(i: int) -> list:
        return [await step({"job": i}), await step({"verdict": i})]

    await step({"plan": n})
    await asyncio.gather(*(lane(i) for i in range(n)))
    await step({"best": "job-1"})


async def per_step_us(invoke: Callable[[], Awaitable[Any]], counter: list[int], runs: int, steps: int) -> float:
    await loop(invoke, max(3, runs // 10))()  # warm up
    counter[0] = 0
    us = await timed_us(loop(invoke, runs), runs * steps)
    assert counter[0] == (REPEATS + 1) * runs * steps, counter  # the same node executions on both sides
    return us


async def part_b(rig: Rig, n: int, runs: int) -> list[tuple[str, float]]:
    steps, counter = 2 * n + 2, [0]
    graph = langgraph_graph(n, counter)
    runners = {"director": [rig.runner("director", "director[0]")], "editor": [rig.runner("editor", "editor[0]")],
               "engineer": [rig.runner("engineer", f"engineer[{i}]") for i in range(n)],
               "critic": [rig.runner("critic", f"critic[{i}]") for i in range(n)]}
    init = {"plan": {}, "results": [], "merged": {}}

    async def work(role: str, i: int) -> Any:
        return await rig.think(runners[role][i], role)

    lg_work_graph = langgraph_graph(n, counter, work)
    lg = await per_step_us(lambda: graph.ainvoke(init), counter, runs, steps)
    lg_work = await per_step_us(lambda: lg_work_graph.ainvoke(init), counter, runs, steps)
    ours = await per_step_us(lambda: ours_graph(rig, runners, counter), counter, runs, steps)
    with no_fsync():
        ours_nf = await per_step_us(lambda: ours_graph(rig, runners, counter), counter, runs, steps)
    node_work = await per_step_us(lambda: think_only(rig, runners, counter), counter, runs, steps)
    plain = await per_step_us(lambda: plain_graph(n, counter), counter, runs, steps)
    return [("LangGraph StateGraph, no-op async nodes (ainvoke)", lg),
            ("LangGraph StateGraph, nodes call AgentRunner.think (same work as ours)", lg_work),
            ("ours: asyncio + AgentRunner.think (scripted, event row per step)", ours),
            ("ours: same, os.fsync patched to a no-op (bench only)", ours_nf),
            ("node work alone: the same think() calls in a plain loop, no graph", node_work),
            ("plain asyncio, no-op steps (no AgentRunner)", plain)]


# -- part (c): a job's way through the Workshop, with a no-op executor ---------------------------------------

class NoopExecutor:
    """Finishes every job at once: a work dir with an empty final_model/, a dev curve, an ok summary."""

    def __init__(self, root: Path):
        self.root, self.term_grace = root, 2.0

    async def submit(self, job: Any) -> Any:
        from sandbox.jobs import JobHandle

        (self.root / job.job_id / "final_model").mkdir(parents=True)
        return JobHandle(job.job_id, job)

    async def wait(self, handle: Any) -> Any:
        from sandbox.jobs import JobResult, JobStatus

        metrics = ({"step": 10, "train_loss": 1.5}, {"step": 100, "dev_accuracy": 0.5}, {"step": 200, "dev_accuracy": 0.6})
        return JobResult(handle.job_id, JobStatus.OK, 0, metrics, self.root / handle.job_id, 0.0, 0.0, None,
                         "status: ok\ndev_accuracy: 0.6\n", "", ("cpu:0",), dict(handle.job.metadata))

    async def cancel(self, handle: Any) -> None:
        return None

    async def metrics(self, handle: Any) -> Any:
        return
        yield


async def part_c(tmp: Path, n: int) -> list[tuple[str, float]]:
    """run_recipe per job: build the recipe Job, reserve job-seconds, submit, settle, job_started and
    job_finished rows (the latter fsynced), result.json; the job itself does nothing."""
    from tasks import load_task, prepare_task
    from team.engine.workshop import Workshop, job_key

    prepared = prepare_task(load_task("reverse"))
    jobs = tmp / "jobs"
    ledger = Ledger({"job_seconds": 1e15, "wall": 1e12})
    events = EventLog(tmp / "work-events.jsonl", run="bench")
    work = Workshop(NoopExecutor(jobs), prepared, ledger, events, jobs, capacity=8)
    config, keys = dict(prepared.task.reference), iter(range(10**12))

    async def one() -> None:
        i = next(keys)
        out = await work.run_recipe(job_key("bench", i), config, i, 60.0, agent="engineer[0]", role="engineer",
                                    round=1, attempt=0, parent=None)
        assert out is not None and out.status == "ok", out

    rows = [("run_recipe(): one job at a time, job_finished fsynced", await timed_us(loop(one, n), n))]
    with no_fsync():
        rows.append(("run_recipe(): same, os.fsync patched to a no-op (bench only)", await timed_us(loop(one, n), n)))
    events.close()
    return rows


def table(title: str, rows: list[tuple[str, float]], unit: str) -> None:
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{title}\n{'-' * (width + 12)}")
    for name, value in rows:
        print(f"{name:<{width}}{value:>9.1f} {unit}")


async def main(args: argparse.Namespace) -> None:
    n, fan, runs = (500, 1000, 20) if args.quick else (3000, 1000, 100)
    with tempfile.TemporaryDirectory(prefix="bench_runtime_") as tmp:
        rig = Rig(Path(tmp))
        a = await part_a(rig, n, fan)
        table(f"(a) per message, zero-latency scripted model (best of {REPEATS}; {n} sequential msgs)", a, "µs/msg")
        full, nofsync = a[0][1], a[1][1]
        print(f"goal <= {GOAL_US:.0f} µs/msg: full path {'MET' if full <= GOAL_US else 'MISSED'} ({full:.0f} µs); "
              f"without fsync {'MET' if nofsync <= GOAL_US else 'MISSED'} ({nofsync:.0f} µs)")
        b = await part_b(rig, args.engineers, runs)
        table(f"(b) per-step overhead, director -> {args.engineers} engineers -> {args.engineers} critics -> editor "
              f"({2 * args.engineers + 2} node executions x {runs} invocations, best of {REPEATS})", b, "µs/step")
        lg, lg_work, ours, ours_nf, node_work, plain = (v for _, v in b)
        print("per-step overhead = per-step time minus the node work (the same think() calls without a graph):")
        print(f"  LangGraph {lg_work - node_work:7.1f} µs/step   ours {ours - node_work:7.1f} µs/step")
        for label, mine, theirs in (("overhead, same node work", ours - node_work, lg_work - node_work),
                                    ("total, same node work", ours, lg_work),
                                    ("ours with work / LangGraph no-op", ours, lg),
                                    ("plain asyncio / LangGraph no-op", plain, lg)):
            ratio = mine / theirs
            print(f"ratio {label:<34} = {ratio:5.2f}  (goal <= 0.33: {'MET' if ratio <= 1 / 3 else 'MISSED'})")
        print(f"events written: {rig.events.count}. 'ours' is the runtime's scheduling shape (director, then "
              "engineer -> critic lanes under gather, then editor) around the real AgentRunner.think path")
        rig.events.close()
        c = await part_c(Path(tmp), 200 if args.quick else 1000)
        table("(c) per job through the Workshop, no-op executor (best of 3)", c, "µs/job")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer messages and invocations (a few seconds)")
    parser.add_argument("--engineers", type=int, default=8, help="engineers (and critics) in the part (b) graph")
    asyncio.run(main(parser.parse_args()))
