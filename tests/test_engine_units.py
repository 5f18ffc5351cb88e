"""The engine's parts, each on its own with the shipped doubles: rounds, routing, the resume rules, the
merger, the agent runner and the run lock."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from roles.library import builtin_roles
from roles.schemas import Plan, Proposal
from sandbox.errors import ConfigError, ModelError
from team.config.topology import load_team
from team.engine.agents.runner import AgentRunner
from team.engine.flow.messages import Candidate, PlanPayload, ResultPayload
from team.engine.flow.rounds import RoundBook
from team.engine.flow.routing import Router
from team.engine.records.events import EventLog
from team.engine.records.ledger import Ledger
from team.engine.run.lock import RunLock
from team.engine.run.restore import previous_wall, restore_spend
from team.testing import FunctionModel, ScriptedModel

# -- rounds -------------------------------------------------------------------------------------------


async def test_rounds_settle_in_order_and_merge_once_each():
    merged = []

    async def merge(r):
        merged.append(r)

    book = RoundBook(["lead"], merge)
    book.add(1, prejob=True)
    book.planned("lead", 1)
    assert not book.is_settled(1)
    book.taken(1)
    await asyncio.wait_for(book.wait_taken(1), 1)
    book.add(2, prejob=False)
    book.planned("lead", 2)
    book.done(2)  # round 2 is quiet first, but merges only after round 1
    await asyncio.sleep(0.01)
    assert merged == [] and not book.is_settled(2)
    book.done(1)
    await asyncio.wait_for(book.wait_settled(2), 1)
    assert merged == [1, 2]
    book.close("lead")
    await asyncio.wait_for(book.wait_settled(7), 1)  # a round nobody will plan never blocks


# -- routing ------------------------------------------------------------------------------------------


def test_a_plan_is_split_by_capacity_and_lanes_pick_replicas():
    team = load_team("research")
    router = Router(team)
    assert router.capacity("director") == 4
    plan = PlanPayload(tuple(Proposal(config={"lr": 1e-3 * i}) for i in range(4)))
    out = list(router.deliveries("director", "start", plan, 0, {}))
    assert [(d[1], d[2], d[4]) for d in out] == [(f"engineer[{i}]", "proposal", i) for i in range(4)]


def test_a_loop_back_stops_a_lineage_after_max_loops():
    from roles.schemas import Verdict
    from team.engine.flow.messages import VerdictPayload

    team = load_team("research")
    router = Router(team)
    revise = VerdictPayload(Verdict(decision="revise"), None)
    first = list(router.deliveries("critic", "result", revise, 1, {}))
    assert [(d[1], d[5]) for d in first] == [("engineer[1]", {2: 1})]  # edge 2: critic -> engineer, crossed once
    stopped = list(router.deliveries("critic", "result", revise, 1, {2: 2}))
    assert [d[1] for d in stopped] == [None]  # max_loops 2 used up: not delivered


def test_broadcast_reaches_every_replica(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nagents:\n  d: {role: director}\n  e: {role: engineer}\n  p: {role: critic, replicas: 3}\n"
                    "  ed: {role: editor}\nedges:\n  - {from: d, to: e}\n  - {from: e, to: p, broadcast: true}\n"
                    "  - {from: p, to: ed, when: accept}\n")
    router = Router(load_team(path))
    result = ResultPayload(outcome=None, proposal=None)  # the router never looks inside
    assert [d[1] for d in router.deliveries("e", "proposal", result, 0, {})] == ["p[0]", "p[1]", "p[2]"]


# -- resume rules -------------------------------------------------------------------------------------


def _row(ts, event, **kw):
    return {"ts": ts, "event": event, **kw}


def test_a_crash_charges_an_open_job_what_it_used_and_a_call_its_reservation(tmp_path):
    job = tmp_path / "jobs" / "j1"
    job.mkdir(parents=True)
    (job / "stdout.log").write_text("step 10\n")
    os.utime(job / "stdout.log", (107.0, 107.0))  # its last output, 7 s after it started
    rows = [_row(100, "session_start"), _row(100.5, "team_start"),
            _row(101, "budget", change="reserve", reservation=1, agent="e", amounts={"job_seconds": 60.0}),
            _row(101, "budget", change="reserve", reservation=2, agent="e", amounts={"job_seconds": 60.0}),
            _row(101, "job_started", reservation=1, job_id="j1", devices=1),
            _row(102, "budget", change="reserve", reservation=3, agent="d", amounts={"tokens": 900.0, "model_calls": 1}),
            _row(103, "budget", change="reserve", reservation=4, agent="c", amounts={"tokens": 50.0}),
            _row(104, "budget", change="settle", reservation=4, agent="c", used={"tokens": 40.0}),
            _row(105, "message")]
    ledger = Ledger({"job_seconds": 100.0})
    lines = restore_spend(ledger, rows, tmp_path / "jobs")
    assert ledger.spent["job_seconds"] == pytest.approx(6.0)  # 101 -> 107, not the 60 reserved; j2 never started
    assert ledger.spent["tokens"] == pytest.approx(940.0) and ledger.spent["model_calls"] == 1
    assert {line["reservation"] for line in lines} == {1, 2, 3}
    assert previous_wall(rows) == pytest.approx(4.5)


# -- the merger -----------------------------------------------------------------------------------------


async def test_only_if_better_keeps_the_earliest_trial_on_a_tie(tmp_path):
    from team.engine.work.merger import Merger
    from team.testing import _save_toy_model

    for job in ("a", "b"):
        _save_toy_model(tmp_path / "jobs" / job / "final_model", 0.5)
    events = EventLog(tmp_path / "events.jsonl")
    work = type("W", (), {"jobs_dir": tmp_path / "jobs", "events": events, "stopping": False})()
    merger = Merger(policy="best", work=work, final_dir=tmp_path / "final_model")
    await merger.install(Candidate(1, "best", ("b",), 0.5), only_if_better=True, order=5)
    await merger.install(Candidate(1, "best", ("a",), 0.5), only_if_better=True, order=2)
    await merger.install(Candidate(1, "best", ("b",), 0.5), only_if_better=True, order=5)
    assert merger.members == ("a",) and (tmp_path / "final_model" / "model.pt").exists()
    assert not (tmp_path / "final_model.tmp").exists()


# -- the agent runner -----------------------------------------------------------------------------------


def _runner(tmp_path, model, memo=None, role="director"):
    from roles.policies import POLICIES

    return AgentRunner(replica="lead", agent_name="lead", role=builtin_roles()[role], model=model,
                       ledger=Ledger({"model_calls": 100}), events=EventLog(tmp_path / "e.jsonl"), memo=memo or {},
                       policies=POLICIES, retry_delay=0.0)


def _ctx():
    from tests.test_policies import _dctx

    return _dctx(n=2)


async def test_a_remembered_call_is_replayed_without_a_model_call(tmp_path):
    model = ScriptedModel([])
    out = Plan(proposals=[Proposal(config={"lr": 0.01})]).model_dump(mode="json")
    runner = _runner(tmp_path, model, memo={"lead/r1/plan": out})
    thought = await runner.think(_ctx(), round=1, key="plan")
    assert thought.source == "memo" and thought.output.proposals[0].config == {"lr": 0.01} and not model.calls


async def test_a_failing_model_falls_back_to_the_handlers_policy_and_says_so(tmp_path):
    def fail(request):
        raise ModelError("provider down")

    runner = _runner(tmp_path, FunctionModel(fail), role="director")
    thought = await runner.think(_ctx(), round=1, key="x", handler="subplan")
    assert thought.source == "fallback" and "subdirector" in runner.faults[-1]
    rows = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [r["event"] for r in rows].count("model_error") == runner.attempts


async def test_the_handler_picks_the_schema_template_and_policy(tmp_path):
    seen = []

    def answer(request):
        seen.append((request.output_type.__name__, request.metadata["policy"]))
        return Plan(stop=True, reason="nothing left to learn")

    runner = _runner(tmp_path, FunctionModel(answer), role="engineer")
    await runner.think(_ctx(), round=1, key="plan", handler="plan")
    assert seen == [("Plan", "director")]


# -- the run lock ------------------------------------------------------------------------------------------


def test_the_run_lock_refuses_a_second_holder_and_is_free_again_after(tmp_path):
    first = RunLock(tmp_path).acquire()
    with pytest.raises(ConfigError, match=f"pid {os.getpid()}"):
        RunLock(tmp_path).acquire()
    first.release()
    RunLock(tmp_path).acquire().release()
