"""Orchestrator speed, measured on the real runtime: `team.engine.flow.runtime.Runtime` runs a generated team file
(director -> engineer x R -> critic x R -> editor, one round) built the way `team/engine/run/assemble.py` builds
it, with a zero-latency scripted model (precomputed outputs) and a zero-time executor. The same graph runs
as a LangGraph StateGraph (director, `Send` to R engineer tasks, each `Send`s to a critic, fan-in to the
editor) whose nodes call the same node-work functions on runners built the same way.

Node work is what a node does whatever the framework: `AgentRunner.think` (render, ledger, model, event
row), an engineer's program (the starter with its constants set) through `Workshop.run_solution` (the job and
the harness's dev evaluation), the editor's merge through `Merger.build/install` (its decision is a think).
Each is timed by the loop time its coroutine actually runs (steps of the coroutine, not the wall time it
spends waiting), so concurrency does not count twice. Overhead = total - node work, per message; ours
counts messages from the `message` rows of events.jsonl, LangGraph's from the node inputs it delivered.
Our overhead is everything else the runtime does for a message: routing, ids, the `message` row, the
handler's task, the rounds' bookkeeping, and the handlers' own glue (contexts, config checks, the
critic's integrity check and fsynced `verdict` row). LangGraph's nodes build the same contexts but write
no rows and check nothing, and the goal's LangGraph runs without a checkpointer: the comparison leans its way.
A third side, LG+ckpt, compiles the same graph with LangGraph's InMemorySaver (its state saved at every
superstep, what LangGraph needs to resume): shown for context, next to our events.jsonl on a tmpfs.
Run dirs on a tmpfs (`--dir /dev/shm`) take the disk out of the measurement. On a disk, what our loop still
waits on is the write() of each row (the durable rows' fsync is the event log's own thread's, the tree's
node files are written by a thread of their own); what it costs grows with what the disk is busy with.

Goals: issue 11 (point 8), overhead ours/LangGraph <= 1/3 at both sizes; issue 22, on disk (`--dir` on a
disk-backed folder), ours at most LangGraph-with-checkpointer's at both sizes; both, ours at the largest size
within 1.5x of ours at the smallest. Run: `.venv/bin/python benchmarks/bench_runtime.py [--quick] [--dir /dev/shm]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import operator
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roles.context import CriticContext, EngineerContext, Experiment  # noqa: E402
from roles.schemas import JobSpec, MergeDecision, Plan, Proposal, Verdict  # noqa: E402
from team.config.topology import load_team  # noqa: E402
from team.engine.acts.engineer import _program as BUILD_PROGRAM  # noqa: E402
from team.engine.records.events import EventLog, read_events  # noqa: E402
from team.engine.records.ledger import Ledger  # noqa: E402
from team.engine.run.assemble import assemble  # noqa: E402
from team.engine.run.options import Hooks, RunOptions  # noqa: E402
from team.engine.work.workshop import job_key  # noqa: E402
from team.models import ScriptedBackend  # noqa: E402
from team.testing import ScriptedExecutor  # noqa: E402

TASK = "reverse"
LIMITS = {"wall": 3600.0, "job_seconds": 1e12, "tokens": 1e15, "usd": 1e9, "model_calls": 1e12}
OVERHEAD_GOAL, GROWTH_GOAL, CHECKPOINTER_GOAL = 1 / 3, 1.5, 1.0
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}  # cpu: this thread's CPU time (a shared machine)
clock = CLOCKS["wall"]


def team_yaml(replicas: int) -> str:
    return f"""name: bench-{replicas}
description: a director, {replicas} engineers, {replicas} critics and an editor (benchmark)
defaults: {{model: scripted}}
agents:
  director: {{role: director}}
  engineer: {{role: engineer, replicas: {replicas}}}
  critic:   {{role: critic, replicas: {replicas}}}
  editor:   {{role: editor, settings: {{policy: best}}}}
edges:
  - {{from: director, to: engineer}}
  - {{from: engineer, to: critic}}
  - {{from: critic, to: editor, when: accept}}
merge: best
stop: {{rounds: 1}}
"""


def configs(n: int) -> list[dict[str, Any]]:
    """n distinct valid configs of the task (lr steps through its range)."""
    return [{"lr": round(1e-4 * (1 + i / n), 10), "steps": 100} for i in range(n)]


def scripted_model(n: int) -> ScriptedBackend:
    """A zero-latency model: precomputed plan, job specs and verdict; the editor keeps the best job."""
    plan = Plan(proposals=[Proposal(config=c, rationale="sweep") for c in configs(n)], reason="benchmark")
    specs = {c["lr"]: JobSpec(config=c, seed=0, wall_seconds=60.0) for c in configs(n)}
    verdict = Verdict(decision="accept", reasons=["benchmark"])
    return ScriptedBackend({
        "director": lambda ctx: plan,
        "engineer": lambda ctx: specs[ctx.proposal["lr"]],
        "critic": lambda ctx: verdict,
        "editor": lambda ctx: MergeDecision(policy="best", members=[ctx.accepted[0].job_id], log="kept the best"),
    })


# -- node work: timed by the loop time its coroutines run ------------------------------------------------

class NodeWork:
    """Accumulates the seconds the wrapped coroutines spend running (not waiting); nested calls count once.
    A merge (`whole`) counts from call to return: it copies the model in a thread, and it runs alone (the
    round has settled; LangGraph's editor has its own superstep), so its wait is its own work."""

    def __init__(self) -> None:
        self.seconds, self.active, self.whole = 0.0, False, 0

    def wrap(self, fn: Callable, whole: bool = False) -> Callable:
        async def steps(*args: Any, **kwargs: Any) -> Any:
            return await _Steps(fn(*args, **kwargs), self)

        async def elapsed(*args: Any, **kwargs: Any) -> Any:
            if self.whole or self.active:
                return await fn(*args, **kwargs)
            self.whole += 1
            start = clock()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.seconds += clock() - start
                self.whole -= 1
        return elapsed if whole else steps

    def timed(self, fn: Callable) -> Callable:
        """A plain function timed from call to return (it does not suspend)."""
        def call(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                if not (self.active or self.whole):
                    self.seconds += clock() - start
        return call

    def instrument(self, parts: Any) -> None:
        """Wrap every runner's think, the engineers' program build (the parent's files, the patch, the
        constants), the workshop's run_solution and the merger's build/install."""
        import team.engine.acts.engineer as work

        work._program = self.timed(BUILD_PROGRAM)
        for actor in parts.runtime.actors.values():
            actor.runner.think = self.wrap(actor.runner.think)
        parts.workshop.run_solution = self.wrap(parts.workshop.run_solution)
        merger = parts.runtime.merger
        merger.build, merger.install = self.wrap(merger.build, True), self.wrap(merger.install, True)


class _Steps:
    """Drives a coroutine and times each of its steps (a step runs until the coroutine suspends)."""

    __slots__ = ("coro", "work")

    def __init__(self, coro: Any, work: NodeWork):
        self.coro, self.work = coro, work

    def __await__(self):
        coro, work, value, exc = self.coro, self.work, None, None
        while True:
            outer, work.active = work.active, True
            start = clock()
            try:
                yielded = coro.send(value) if exc is None else coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            finally:
                if not (outer or work.whole):
                    work.seconds += clock() - start
                work.active = outer
            try:
                value, exc = (yield yielded), None
            except BaseException as e:  # noqa: BLE001 - handed to the coroutine, as a Task would
                value, exc = None, e


@dataclass
class Sample:
    messages: int
    total: float  # seconds
    work: float

    def us(self) -> tuple[float, float, float]:
        n = self.messages
        return self.total / n * 1e6, self.work / n * 1e6, (self.total - self.work) / n * 1e6


class Bench:
    """Builds fresh parts for each run (a new run dir, ledger and event log), as a Session would."""

    def __init__(self, base: Path, replicas: int, prepared: Any, task: Any):
        self.base, self.replicas, self.prepared, self.task = base, replicas, prepared, task
        path = base / f"bench-{replicas}.yaml"
        path.write_text(team_yaml(replicas))
        self.team, self.path, self.runs = load_team(path), path, 0
        self.model = scripted_model(self.team.agents["engineer"].replicas)

    def parts(self) -> tuple[Any, EventLog, NodeWork, Path]:
        self.runs += 1
        run_dir = self.base / f"r{self.replicas}-{self.runs}"
        events = EventLog(run_dir / "events.jsonl", run=run_dir.name)
        ledger = Ledger(limits=dict(LIMITS))
        ledger.on_change = lambda what, row: events.emit("budget", change=what, **row)
        hooks = Hooks(model=lambda name, m: self.model, executor=lambda _: ScriptedExecutor(run_dir / "jobs", seconds=0))
        options = RunOptions(team=str(self.path), task=TASK, out=str(run_dir), progress=False)
        parts = assemble(run_dir, options, self.team, self.task, self.prepared, ledger, events, ({}, {}), hooks)
        work = NodeWork()
        work.instrument(parts)
        ledger.start_clock()
        gc.collect()
        gc.freeze()  # the set-up's objects (both sides alike) stay out of the collections timed in the run
        return parts, events, work, run_dir

    async def ours(self) -> Sample:
        parts, events, work, run_dir = self.parts()
        start = clock()
        outcome = await parts.runtime.run()
        total = clock() - start
        gc.unfreeze()
        events.close()
        rows = read_events(run_dir / "events.jsonl")
        messages = sum(r["event"] == "message" for r in rows)
        jobs = sum(r["event"] == "job_finished" and r.get("kind") != "dev_eval" for r in rows)
        assert jobs == self.replicas and messages == 3 * self.replicas, (jobs, messages, outcome.stop_reason)
        assert parts.runtime.merger.members, "the editor installed nothing"
        shutil.rmtree(run_dir)
        return Sample(messages, total, work.seconds)

    async def langgraph(self, checkpointed: bool = False) -> Sample:
        parts, events, work, run_dir = self.parts()
        graph, delivered = langgraph_peer(parts, checkpointed)
        config = {"configurable": {"thread_id": run_dir.name}} if checkpointed else None
        start = clock()
        await graph.ainvoke({"verdicts": []}, config)
        total = clock() - start
        gc.unfreeze()
        events.close()
        parts.runtime.tree.close()  # the starter's files (the peer adds no nodes)
        jobs = sum(r["event"] == "job_finished" and r.get("kind") != "dev_eval"
                   for r in read_events(run_dir / "events.jsonl"))
        assert jobs == self.replicas and delivered[0] == 3 * self.replicas, (jobs, delivered)
        assert parts.runtime.merger.members, "the editor installed nothing"
        shutil.rmtree(run_dir)
        return Sample(delivered[0], total, work.seconds)


# -- the LangGraph peer --------------------------------------------------------------------------------

class PeerState(TypedDict):
    verdicts: Annotated[list, operator.add]


def langgraph_peer(parts: Any, checkpointed: bool = False) -> tuple[Any, list[int]]:
    """The same team as a StateGraph. Each node builds its context as our handlers do and calls the same
    node work on runners built the same way; it writes no message or verdict rows (LangGraph keeps its
    own state). `delivered` counts the inputs delivered to nodes (Sends and the fan-in's writes).
    `checkpointed`: compiled with LangGraph's in-memory checkpointer, which saves the graph's state at
    every superstep (what LangGraph needs to resume; our counterpart is events.jsonl, on a tmpfs here)."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, Send

    import team.engine.acts.engineer as work
    from team.engine.acts.director import planner_context
    from team.engine.acts.editor import propose

    rt, delivered = parts.runtime, [0]
    director = rt.replicas("director")[0]
    engineers, critics, editor = rt.replicas("engineer"), rt.replicas("critic"), rt.replicas("editor")[0]

    async def plan(state: PeerState) -> Command:
        ctx = planner_context(rt.contexts[director.replica], 1, len(engineers))
        out: Plan = (await director.runner.think(ctx, round=1, key="plan", parent=None, handler="plan")).output
        delivered[0] += len(out.proposals)
        return Command(goto=[Send("engineer", {"lane": i, "proposal": p}) for i, p in enumerate(out.proposals)])

    async def engineer(arg: dict) -> Command:
        lane, p = arg["lane"], arg["proposal"]
        actor = engineers[lane % len(engineers)]
        ctx = EngineerContext(task=rt.services.card, round=1, proposal=p.config, rationale=p.rationale, seed=rt.services.seed + 17 + lane,
                              wall_seconds=rt.services.job_seconds, instructions=actor.role.prompt,
                              settings=dict(actor.role.settings))
        spec: JobSpec = (await actor.runner.think(ctx, round=1, key=f"p{lane}", handler="job")).output
        solution = work._program(rt.harness, "starter", spec, spec.config)
        outcome = await rt.work.run_solution(job_key("lg", lane, solution.digest, spec.seed), solution, spec.config,
                                             spec.seed, min(spec.wall_seconds, rt.services.job_seconds), agent=actor.replica,
                                             role=actor.role.name, round=1, attempt=0, parent=None)
        delivered[0] += 1
        diff = solution.diff(rt.tree.solution("starter"))  # the critic's context holds the diff, as ours does
        return Command(goto=Send("critic", {"lane": lane, "outcome": outcome, "diff": diff}))

    async def critic(arg: dict) -> dict:
        lane, o = arg["lane"], arg["outcome"]
        actor = critics[lane % len(critics)]
        ctx = CriticContext(task=rt.services.card, round=1, outcome=o, best_dev=rt.merger.best_dev, noise=rt.merger.noise,
                            revisions_left=0, instructions=actor.role.prompt, settings=dict(actor.role.settings),
                            diff=arg["diff"])
        v: Verdict = (await actor.runner.think(ctx, round=1, key=f"r{lane}", handler="result")).output
        delivered[0] += v.decision == "accept"
        return {"verdicts": [Experiment(o.job_id, o.config, o.seed, o.status, o.dev_accuracy, v.decision, 1)]}

    async def edit(state: PeerState) -> dict:
        accepted = sorted((e for e in state["verdicts"] if e.verdict == "accept"), key=lambda e: e.job_id)
        c = await propose(rt.contexts[editor.replica], 1, accepted, key="merge", policy="best")
        if c is not None:
            await rt.merger.install(c, agent=editor.replica)
        return {}

    g = StateGraph(PeerState)
    g.add_node("director", plan, destinations=("engineer",))
    g.add_node("engineer", engineer, destinations=("critic",))
    g.add_node("critic", critic)
    g.add_node("editor", edit)
    g.add_edge(START, "director")
    g.add_edge("critic", "editor")
    g.add_edge("editor", END)
    if not checkpointed:
        return g.compile(), delivered
    from langgraph.checkpoint.memory import InMemorySaver

    return g.compile(checkpointer=InMemorySaver()), delivered


# -- measuring -----------------------------------------------------------------------------------------

async def measure(bench: Bench, runs: int) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """`runs` interleaved triples (ours, LangGraph, LangGraph with its checkpointer; the order rotates)
    after one warm-up triple."""
    sides = (bench.ours, bench.langgraph, lambda: bench.langgraph(checkpointed=True))
    out: tuple[list[Sample], list[Sample], list[Sample]] = ([], [], [])
    for i in range(runs + 1):
        order = [(i + k) % 3 for k in range(3)]
        samples = {k: await sides[k]() for k in order}
        if i:
            for k in range(3):
                out[k].append(samples[k])
    return out


def median_us(samples: list[Sample]) -> tuple[float, float, float]:
    per = [s.us() for s in samples]
    return tuple(statistics.median(p[k] for p in per) for k in range(3))  # type: ignore[return-value]


def report(results: dict[int, tuple[list[Sample], list[Sample], list[Sample]]]) -> None:
    print(f"\n{'replicas':>8} {'side':<10} {'msgs/run':>8} {'runs':>4} {'total µs/msg':>12} {'node work':>10} "
          f"{'overhead':>9}   (medians over runs)")
    rows = {}
    for r, (ours, peer, saved) in results.items():
        for side, samples in (("ours", ours), ("LangGraph", peer), ("LG+ckpt", saved)):
            total, work, over = rows[r, side] = median_us(samples)
            print(f"{r:>8} {side:<10} {samples[0].messages:>8} {len(samples):>4} {total:>12.1f} {work:>10.1f} {over:>9.1f}")
    print()
    for r in results:
        ratio = rows[r, "ours"][2] / rows[r, "LangGraph"][2]
        ratios = [o.us()[2] / p.us()[2] for o, p, _ in zip(*results[r], strict=True)]
        print(f"R={r}: overhead ours/LangGraph = {ratio:.3f} (of the medians; per pair: median "
              f"{statistics.median(ratios):.3f}, {min(ratios):.3f}..{max(ratios):.3f}); "
              f"goal <= {OVERHEAD_GOAL:.2f}: {'MET' if ratio <= OVERHEAD_GOAL else 'MISSED'}")
        saved = rows[r, "ours"][2] / rows[r, "LG+ckpt"][2]
        print(f"R={r}: overhead ours/LangGraph with its checkpointer (both keep what a resume needs) = {saved:.3f}; "
              f"goal <= {CHECKPOINTER_GOAL:g}: {'MET' if saved <= CHECKPOINTER_GOAL else 'MISSED'}")
    small, large = min(results), max(results)
    if small != large:
        for k, what in ((2, "overhead"), (0, "total")):
            growth = rows[large, "ours"][k] / rows[small, "ours"][k]
            print(f"ours {what} per message, R={large} / R={small} = {growth:.2f}; goal <= {GROWTH_GOAL}: "
                  f"{'MET' if growth <= GROWTH_GOAL else 'MISSED'}")


async def main(args: argparse.Namespace) -> None:
    from tasks import load_task, prepare_task

    global clock
    clock = CLOCKS[args.clock]

    task = load_task(TASK)
    prepared = prepare_task(task)
    base = Path(tempfile.mkdtemp(prefix="bench_runtime_", dir=args.dir))
    try:
        results = {}
        for r in args.replicas:
            runs = args.runs if r < 100 else args.runs_large
            results[r] = await measure(Bench(base, r, prepared, task), runs)
            print(f"R={r}: {runs} pairs done", file=sys.stderr)
        print(f"\nreal Runtime vs LangGraph; director -> engineer x R -> critic x R -> editor, one round; "
              f"run dirs under {args.dir or tempfile.gettempdir()}; clock: {args.clock}")
        report(results)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, nargs="+", default=[10, 1000], help="team sizes R")
    parser.add_argument("--runs", type=int, default=40, help="measured pairs at sizes under 100")
    parser.add_argument("--runs-large", type=int, default=6, help="measured pairs at sizes of 100 and more")
    parser.add_argument("--dir", default=None, help="where run dirs go (default: the system temp dir)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: this thread's CPU time (steadier on a shared machine)")
    parser.add_argument("--quick", action="store_true", help="few pairs (a smoke run)")
    ns = parser.parse_args()
    if ns.quick:
        ns.runs, ns.runs_large = 4, 1
    asyncio.run(main(ns))
