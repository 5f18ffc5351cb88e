"""The team file runs as written: six topologies beyond the built-ins, run through the real Session and
runtime (scripted policies, toy jobs), and the routing each YAML implies read back out of events.jsonl."""

from __future__ import annotations

import json
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


LABELLED = """\
name: near-misses
roles:
  skeptic:
    extends: critic
    settings:
      labels:
        promising: {means: reject, if: within_noise, note: "close to the best: the director should hear of it"}
agents:
  director: {role: director}
  engineer: {role: engineer, replicas: 2}
  critic: {role: skeptic, settings: {second_seed: false}}
  editor: {role: editor}
edges:
  - {from: director, to: engineer}
  - {from: engineer, to: critic}
  - {from: critic, to: editor, when: accept}
  - {from: critic, to: director, when: promising, max_loops: 4}
  - {from: editor, to: director, max_loops: 4}
merge: best
stop: {rounds: 4}
"""


def test_a_custom_label_routes_its_verdicts_and_only_those(tmp_path):
    """`when: promising` carries the rejects the critic labels promising (within margin x noise of the best),
    and nothing else; the plain rejects go nowhere, the accepts to the editor."""
    run, result = run_scripted(tmp_path, LABELLED)
    _assert_on_edges(run, LABELLED)
    rows = rows_of(run)
    verdicts = [r for r in rows if r["event"] == "verdict" and r.get("subject") == "result"]
    labelled = [v for v in verdicts if v.get("label") == "promising"]
    assert labelled, "no verdict was labelled promising"
    assert all(v["decision"] == "reject" for v in labelled)
    assert any(v["decision"] == "reject" and "label" not in v for v in verdicts) or len(labelled) == len(
        [v for v in verdicts if v["decision"] == "reject"])
    to_director = [m for m in messages(run) if m["edge"] == "critic->director"]
    assert to_director and all(m.get("label") == "promising" and m["decision"] == "reject" for m in to_director)
    assert {m["job_id"] for m in to_director} == {v["job_id"] for v in labelled}
    to_editor = [m for m in messages(run) if m["edge"] == "critic->editor"]
    assert to_editor and all(m["decision"] == "accept" and "label" not in m for m in to_editor)
    assert result["final_members"]


def test_an_llm_critic_reads_its_labels_and_a_label_that_contradicts_its_decision_is_repaired(tmp_path):
    """The critic's prompt says what each label means; a reply labelled promising but deciding accept is sent
    back with what is wrong, and the repaired reject travels `when: promising`."""
    from roles.schemas import Verdict
    from team.testing import FunctionModel

    prompts = []

    def answer(request):
        prompts.append(request.messages[-1].content)
        repair = len(request.messages) > 2
        return Verdict(decision="reject" if repair else "accept", label="promising", reasons=["near the best"])

    def hook(agent, model):
        return FunctionModel(answer, name="openai/test") if agent == "critic" else model

    run, _ = run_scripted(tmp_path, LABELLED, model_hook=hook)
    assert any("promising = reject when the result's (or merge's) dev is within margin x noise" in p for p in prompts)
    assert any("label 'promising' means reject, so the decision must be reject" in p for p in prompts)
    calls = [r for r in rows_of(run) if r["event"] == "model_call" and r["agent"] == "critic"]
    assert calls and all(c["source"] == "repaired" for c in calls), {c["source"] for c in calls}
    to_director = [m for m in messages(run) if m["edge"] == "critic->director"]
    assert len(to_director) == len(calls) and all(m["label"] == "promising" for m in to_director)
    assert not [m for m in messages(run) if m["edge"] == "critic->editor"]


@pytest.mark.parametrize("edit, error, line, says", [
    ("when: promising", "when: promisng", 17, "`when: promisng` is not a decision critic makes: accept, revise, reject "
                                              "or its labels promising"),
    ("promising: {means: reject", "accept: {means: reject", 5, "label 'accept': a label is a lowercase name other "
                                                               "than accept, revise, reject"),
    ("if: within_noise", "if: sometimes", 5, "settings.labels.promising.if: Input should be 'always', 'within_noise'"),
], ids=["unknown-label", "label-named-like-a-decision", "unknown-condition"])
def test_labels_that_cannot_run_are_refused_with_file_and_line(tmp_path, capsys, edit, error, line, says):
    from team.cli import main

    path = tmp_path / "team.yaml"
    path.write_text(LABELLED.replace(edit, error))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(e.startswith(f"{path}:{line}: ") and says in e for e in err), err
    assert all(e.startswith(f"{path}:") for e in err), err


def test_a_label_no_edge_routes_is_refused(tmp_path, capsys):
    from team.cli import main

    path = tmp_path / "team.yaml"
    path.write_text(LABELLED.replace("  - {from: critic, to: director, when: promising, max_loops: 4}\n", ""))
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (f"{path}:11: agent 'critic': label 'promising' is routed by no edge "
                                               "(give an edge from critic `when: promising`, or drop the label)")


def test_two_labs_never_run_the_same_experiment_and_explore_changes_a_lab(tmp_path):
    """Across the labs no (node, operator, config, seed) runs twice, and no config trains with one seed in two
    replicas (within one replica, code changes of one config share its seed: common random numbers)."""
    run, _ = run_scripted(tmp_path, TWO_LABS, seconds=0.2)
    rows = rows_of(run)
    runs = [(r["node"], r["config"].get("seed"), tuple(sorted((k, v) for k, v in r["config"].items() if k != "seed")))
            for r in rows if r["event"] == "job_started" and r.get("role") == "engineer"]
    assert len(runs) >= 8 and len(set(runs)) == len(runs), "an experiment ran twice"
    by_experiment = defaultdict(set)  # (config, seed) -> the replicas that trained it
    for r in rows:
        if r["event"] == "job_started" and r.get("role") == "engineer":
            by_experiment[json.dumps(r["config"], sort_keys=True)].add(r["agent"])
    assert all(len(agents) == 1 for agents in by_experiment.values()), "two replicas trained one config with one seed"
    configs = defaultdict(set)
    for r in rows:
        if r["event"] == "model_call" and r["call"].endswith("/plan"):
            for p in r["output"]["proposals"]:
                configs[r["agent"]].add((p.get("node"), p.get("operator"), json.dumps(p["config"], sort_keys=True)))
    assert configs["lead_a"] and not configs["lead_a"] & configs["lead_b"], "two labs proposed the same experiment"
    scored = {r["job_id"]: r["agent"] for r in rows if r["event"] == "node_scored"}
    ran = {r["job_id"]: r["agent"] for r in rows if r["event"] == "job_started" and r.get("role") == "engineer"}
    assert all(scored[j] == ran[j] for j in scored), "the tree credits a job to someone who did not run it"
    broad = TWO_LABS.replace("lead_b: {role: director}", "lead_b: {role: director, settings: {explore: 0.8}}")
    run_b, _ = run_scripted(tmp_path, broad, name="broad", seconds=0.2)
    first = {r["agent"]: r["output"]["proposals"] for r in rows_of(run_b)
             if r["event"] == "model_call" and r["call"].endswith("/r1/plan")}
    before = {r["agent"]: r["output"]["proposals"] for r in rows if r["event"] == "model_call"
              and r["call"].endswith("/r1/plan")}
    assert first["lead_b"] != before["lead_b"] and first["lead_a"] == before["lead_a"]  # explore moved only lab b


def test_a_replication_lab_may_repeat_another_labs_experiments(tmp_path):
    twin = TWO_LABS.replace("lead_b: {role: director}", "lead_b: {role: director, settings: {replicate: true}}")
    run, _ = run_scripted(tmp_path, twin, seconds=0.2)
    firsts = {r["agent"]: r["output"]["proposals"][0]["config"] for r in rows_of(run)
              if r["event"] == "model_call" and r["call"].endswith("/r1/plan")}
    assert firsts["lead_a"] == firsts["lead_b"]  # both start from the prior: a replication, asked for


# A sampler proposes until its budget ends, and a scripted job takes 0.05 s: without a charge per job it would run
# for its whole wall budget. Charged its whole limit (~10 s), a job of the random arm ends its budget in ~8 jobs.
SAMPLER = {"budget": "wall=60s,job_seconds=100s", "charge": 1.0}


@pytest.mark.parametrize("team", ["solo", "random", "two_labs"])
def test_an_experiment_two_arms_both_run_trains_with_the_same_seed_there(tmp_path, team):
    """Common random numbers: in runs of one seed, the same config gets the same training seed whichever team
    runs it (the study's paired difference then measures the arms' decisions, not their seeds); another lab,
    or another replica of an engineer, running it gets another seed."""
    def seeds_of(run) -> dict[str, set[tuple[int, str]]]:
        out = defaultdict(set)
        for r in rows_of(run):
            if r["event"] == "job_started" and r.get("config"):
                config = {k: v for k, v in r["config"].items() if k != "seed"}
                out[json.dumps(config, sort_keys=True)].add((r["config"]["seed"], r["agent"]))
        return out

    research, _ = run_scripted(tmp_path, "research", name="research", seed=3)
    other, _ = run_scripted(tmp_path, TWO_LABS if team == "two_labs" else team, name=team, seed=3,
                            **(SAMPLER if team == "random" else {}))
    mine, theirs = seeds_of(research), seeds_of(other)
    shared = sorted(set(mine) & set(theirs))
    assert shared, "the two runs share no experiment (both start from the same prior)"
    first = lambda agent: not agent.endswith("]") or agent.endswith("[0]")  # noqa: E731 (a replica's own seed)
    matched = 0
    for config in shared:
        ours = {s for s, a in mine[config] if first(a)}
        if team == "two_labs":  # lab b's engineers train it with seeds of their own
            assert not {s for s, _ in mine[config]} & {s for s, a in theirs[config] if a.startswith("eng_b")}, config
        elif ours and {s for s, a in theirs[config] if first(a)}:
            assert ours & {s for s, _ in theirs[config]}, f"{config}: {mine[config]} vs {theirs[config]}"
            matched += 1
        else:  # engineer[1] of the research team runs it: a replica's seed, not the config's own
            assert not {s for s, _ in mine[config]} & {s for s, _ in theirs[config]}, config
    assert matched or team == "two_labs"  # the prior at least: both arms' first replica runs it
    another, _ = run_scripted(tmp_path, "research", name="research-seed4", seed=4)
    prior = shared[0]
    assert not {s for s, _ in mine[prior]} & {s for s, _ in seeds_of(another).get(prior, set())}, \
        "a run of another seed trains the same experiment with the same seed"


@pytest.mark.parametrize("team", ["solo-parallel", "random"])
def test_lanes_that_start_from_the_same_prior_do_not_train_the_same_job(tmp_path, team):
    _, result = run_scripted(tmp_path, team, seed=3, **(SAMPLER if team == "random" else {}))
    run = tmp_path / "run"
    started = [json.dumps(r["config"], sort_keys=True) for r in rows_of(run)
               if r["event"] == "job_started" and r.get("role") != "harness"]
    assert len(started) >= 3 and len(set(started)) == len(started), "one config trained twice with one seed"
