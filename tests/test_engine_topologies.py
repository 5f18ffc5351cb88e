"""The team file runs as written: six topologies beyond the built-ins, run through the real Session and
runtime (scripted policies, toy jobs), and the routing each YAML implies read back out of events.jsonl."""

from __future__ import annotations

from collections import defaultdict

import pytest
from ruamel.yaml import YAML

from tests.engine_rig import agent_of, calls_by_agent, messages, rows_of, run_scripted

TWO_LABS = """\
name: two-labs
agents:
  lead_a: {role: director}
  eng_a: {role: engineer, replicas: 2}
  critic_a: {role: critic}
  lead_b: {role: director}
  eng_b: {role: engineer, replicas: 2}
  critic_b: {role: critic}
  editor: {role: editor}
edges:
  - {from: lead_a, to: eng_a}
  - {from: eng_a, to: critic_a}
  - {from: critic_a, to: eng_a, when: revise, max_loops: 1}
  - {from: critic_a, to: editor, when: accept}
  - {from: lead_b, to: eng_b}
  - {from: eng_b, to: critic_b}
  - {from: critic_b, to: eng_b, when: revise, max_loops: 1}
  - {from: critic_b, to: editor, when: accept}
  - {from: editor, to: lead_a, max_loops: 3}
  - {from: editor, to: lead_b, max_loops: 3}
merge: best
stop: {rounds: 3}
"""

PLAN_REVIEW = """\
name: plan-review
agents:
  director: {role: director}
  reviewer: {role: critic, settings: {min_explore: 3}}
  engineer: {role: engineer, replicas: 3}
  critic: {role: critic}
  editor: {role: editor}
edges:
  - {from: director, to: reviewer}
  - {from: reviewer, to: director, when: revise, max_loops: 2}
  - {from: reviewer, to: engineer, when: accept}
  - {from: engineer, to: critic}
  - {from: critic, to: editor, when: accept}
  - {from: editor, to: director, max_loops: 3}
merge: best
stop: {rounds: 4}
"""

HIERARCHY = """\
name: hierarchy
agents:
  chief: {role: director}
  lr_lead: {role: director, settings: {focus: [lr, warmup_frac]}}
  batch_lead: {role: director, settings: {focus: [batch_size, steps]}}
  eng_lr: {role: engineer, replicas: 2}
  eng_batch: {role: engineer, replicas: 2}
  critic: {role: critic, replicas: 2}
  editor: {role: editor}
edges:
  - {from: chief, to: lr_lead}
  - {from: chief, to: batch_lead}
  - {from: lr_lead, to: eng_lr}
  - {from: batch_lead, to: eng_batch}
  - {from: eng_lr, to: critic}
  - {from: eng_batch, to: critic}
  - {from: critic, to: editor, when: accept}
  - {from: editor, to: chief, max_loops: 3}
merge: best
stop: {rounds: 3}
"""

SIGN_OFF = """\
name: sign-off
agents:
  director: {role: director}
  engineer: {role: engineer, replicas: 3}
  critic: {role: critic}
  editor: {role: editor}
  auditor: {role: critic, settings: {merge_tolerance: 0.0}}
edges:
  - {from: director, to: engineer}
  - {from: engineer, to: critic}
  - {from: critic, to: editor, when: accept}
  - {from: editor, to: auditor}
  - {from: auditor, to: editor, when: revise, max_loops: 1}
  - {from: auditor, to: director, max_loops: 3}
merge: soup
stop: {rounds: 3}
"""

PANEL = """\
name: panel
agents:
  director: {role: director}
  engineer: {role: engineer, replicas: 2}
  panel: {role: critic, replicas: 3}
  editor: {role: editor}
edges:
  - {from: director, to: engineer}
  - {from: engineer, to: panel, broadcast: true}
  - {from: panel, to: editor, when: accept}
  - {from: editor, to: director, max_loops: 2}
merge: best
stop: {rounds: 3}
"""

PEER_REVIEW = """\
name: peer-review
agents:
  director: {role: director}
  builder: {role: engineer, replicas: 2}
  checker: {role: engineer, replicas: 2}
  critic: {role: critic}
  editor: {role: editor}
edges:
  - {from: director, to: builder}
  - {from: builder, to: checker}
  - {from: checker, to: critic}
  - {from: critic, to: editor, when: accept}
  - {from: editor, to: director, max_loops: 2}
merge: best
stop: {rounds: 3}
"""


def _edges(text: str) -> set[tuple[str, str]]:
    return {(e["from"], e["to"]) for e in YAML(typ="safe").load(text)["edges"]}


def _assert_on_edges(run, text):
    edges = _edges(text)
    msgs = messages(run)
    assert msgs, "no message rows"
    for m in msgs:
        assert (agent_of(m["from"]), agent_of(m["to"])) in edges, m
        assert m["edge"] == f"{agent_of(m['from'])}->{agent_of(m['to'])}"
        assert {"id", "parent", "kind", "round"} <= set(m)
    for r in rows_of(run):
        if r["event"] in ("model_call", "job_started", "job_finished", "verdict"):
            assert r.get("agent") and "parent" in r, r


def _jobs_by_agent(run) -> dict[str, str]:
    return {r["job_id"]: r["agent"] for r in rows_of(run) if r["event"] == "job_started" and r.get("kind") != "dev_eval"
            and "dev_eval" not in str(r.get("command"))}


@pytest.mark.parametrize("text", [TWO_LABS, PLAN_REVIEW, HIERARCHY, SIGN_OFF, PANEL, PEER_REVIEW],
                         ids=["two-labs", "plan-review", "hierarchy", "sign-off", "panel", "peer-review"])
def test_every_message_travels_a_declared_edge(tmp_path, text):
    run, result = run_scripted(tmp_path, text)
    _assert_on_edges(run, text)
    assert result["final_members"], result


def test_two_labs_plan_independently_and_are_judged_by_their_own_critic(tmp_path):
    run, _ = run_scripted(tmp_path, TWO_LABS)
    calls = calls_by_agent(run)
    assert calls["lead_a"] >= 3 and calls["lead_b"] >= 3  # each lead plans its own rounds
    author = _jobs_by_agent(run)
    verdicts = [r for r in rows_of(run) if r["event"] == "verdict" and r.get("subject") == "result"]
    assert verdicts
    for v in verdicts:
        lab = agent_of(author[v["job_id"]]).split("_")[1]
        assert v["agent"] == f"critic_{lab}", (v["agent"], author[v["job_id"]])
    logs = [m for m in messages(run) if m["kind"] == "log"]
    assert {m["to"] for m in logs} == {"lead_a", "lead_b"}
    assert {m["round"] for m in logs if m["to"] == "lead_a"} == {m["round"] for m in logs if m["to"] == "lead_b"}
    plans = defaultdict(list)
    for r in rows_of(run):
        if r["event"] == "model_call" and r["call"].endswith("/plan"):
            plans[r["agent"]] += [p["config"] for p in r["output"]["proposals"]]
    assert plans["lead_a"] != plans["lead_b"]  # two entry agents, two seeds: not the same search


def test_no_job_of_a_round_starts_before_its_plan_review(tmp_path):
    run, _ = run_scripted(tmp_path, PLAN_REVIEW)
    rows = rows_of(run)
    accepted_at = {}
    for i, r in enumerate(rows):
        if r["event"] == "verdict" and r.get("subject") == "plan" and r["decision"] == "accept":
            accepted_at.setdefault(r["round"], i)
    starts = [(i, r) for i, r in enumerate(rows) if r["event"] == "job_started" and r.get("role") == "engineer"]
    assert starts and accepted_at
    for i, r in starts:
        assert r["round"] in accepted_at and accepted_at[r["round"]] < i, r
    proposals = [m for m in messages(run) if m["kind"] == "proposal"]
    assert proposals and {m["from"] for m in proposals} == {"reviewer"}
    reviews = [r for r in rows if r["event"] == "verdict" and r.get("subject") == "plan"]
    assert any(r["decision"] == "revise" for r in reviews), "min_explore 3 never sent a plan back"
    revised = [m for m in messages(run) if m["edge"] == "reviewer->director"]
    assert revised and all(m["kind"] == "verdict" for m in revised)


def test_sub_directors_plan_within_their_share_and_focus(tmp_path):
    run, _ = run_scripted(tmp_path, HIERARCHY)
    rows = rows_of(run)
    shares = [m for m in messages(run) if m["from"] == "chief"]
    assert {m["to"] for m in shares} == {"lr_lead", "batch_lead"} and {m["kind"] for m in shares} == {"plan"}
    calls = calls_by_agent(run)
    assert calls["lr_lead"] >= 1 and calls["batch_lead"] >= 1
    senders = defaultdict(set)
    for m in messages(run):
        if m["kind"] == "proposal":
            senders[agent_of(m["to"])].add(m["from"])
    assert senders == {"eng_lr": {"lr_lead"}, "eng_batch": {"batch_lead"}}
    chief = [r["output"]["proposals"] for r in rows if r["event"] == "model_call" and r["agent"] == "chief"][0]
    sub = {r["agent"]: r["output"]["proposals"] for r in rows if r["event"] == "model_call"
           and r["agent"] in ("lr_lead", "batch_lead") and r["round"] == 1}
    focus = {"lr_lead": {"lr", "warmup_frac"}, "batch_lead": {"batch_size", "steps"}}
    for lead, planned in sub.items():
        share = chief[:2] if lead == "lr_lead" else chief[2:4]
        for mine, parent in zip(planned, share, strict=False):
            moved = {k for k in mine["config"] if mine["config"][k] != parent["config"].get(k)}
            assert moved <= focus[lead], (lead, moved)


def test_a_merge_becomes_final_only_when_the_auditor_signs_it_off(tmp_path):
    run, result = run_scripted(tmp_path, SIGN_OFF)
    rows = rows_of(run)
    merges = [r for r in rows if r["event"] == "merge"]
    assert merges and all(m.get("signed_by") == "auditor" for m in merges if m["changed"])
    signoffs = [r for r in rows if r["event"] == "verdict" and r.get("subject") == "merge"]
    assert signoffs and {r["agent"] for r in signoffs} == {"auditor"}
    into = {(m["from"], m["to"], m["kind"]) for m in messages(run) if "auditor" in (m["from"], m["to"])}
    assert ("editor", "auditor", "merge") in into and ("auditor", "director", "verdict") in into
    last = [m for m in merges if m["changed"]][-1]
    assert result["final_members"] == last["members"]


def test_a_broadcast_panel_reviews_every_result_and_decides_once(tmp_path):
    run, _ = run_scripted(tmp_path, PANEL)
    results = [m for m in messages(run) if m["kind"] == "result"]
    by_job = defaultdict(set)
    for m in results:
        by_job[m["job_id"]].add(m["to"])
    assert by_job and all(to == {"panel[0]", "panel[1]", "panel[2]"} for to in by_job.values())
    verdicts = [r for r in rows_of(run) if r["event"] == "verdict"]
    assert sorted(v["job_id"] for v in verdicts) == sorted(by_job)  # one combined verdict per result
    assert all(v["agent"] == "panel" and sum(v["panel"].values()) == 3 for v in verdicts)


def test_a_checker_engineer_follows_up_every_builder_result(tmp_path):
    run, _ = run_scripted(tmp_path, PEER_REVIEW)
    msgs = messages(run)
    into_critic = {agent_of(m["from"]) for m in msgs if agent_of(m["to"]) == "critic"}
    assert into_critic == {"checker"}
    built = {m["id"]: m for m in msgs if m["edge"] == "builder->checker"}
    follow = [r for r in rows_of(run) if r["event"] == "job_started" and agent_of(r["agent"]) == "checker"
              and r.get("kind") != "dev_eval"]
    assert built and follow and all(r["parent"] in built for r in follow)
    configs = {r["job_id"]: r["outcome"]["config"] for r in rows_of(run) if r["event"] == "job_finished" and "outcome" in r}
    for r in follow:
        peer = built[r["parent"]]
        assert configs[r["job_id"]] == configs[peer["job_id"]]  # a reproduction of the builder's config
