"""Message kinds are declared once (roles/flow.py): the payload class, who takes it, who sends it after what
to whom. Validation, routing, the message rows and the engine's handler table follow the declarations;
team/GRAPH.md lists them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roles.flow import KINDS, handles

ROOT = Path(__file__).resolve().parents[1]
ROLE_KINDS = ("director", "engineer", "critic", "editor", "solo", "sampler")


def test_each_kind_is_its_payload_class_and_says_what_its_row_carries():
    assert list(KINDS) == ["start", "plan", "proposal", "result", "verdict", "merge", "log"]
    for name, k in KINDS.items():
        assert k.payload.KIND == name
        assert callable(getattr(k.payload, "summary", None)), name
        assert k.taken_by <= set(ROLE_KINDS), name


def test_the_engine_handles_exactly_what_the_declarations_say_each_role_takes():
    from team.engine.acts import ACTS

    declared = {(role, kind) for role in ROLE_KINDS for kind in handles(role)}
    assert set(ACTS) == declared
    assert {role for role in ROLE_KINDS if "start" in handles(role)} == {"director", "engineer", "solo", "sampler"}


def test_graph_md_lists_every_declared_kind_and_who_takes_it():
    text = (ROOT / "team" / "GRAPH.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", text, flags=re.M))
    assert set(rows) == set(KINDS) - {"start"}
    plural = {"director": "directors", "engineer": "engineers", "critic": "critics", "editor": "editors",
              "solo": "solo agents", "sampler": "samplers"}
    for name, taken in rows.items():
        assert {role for role, word in plural.items() if word in taken} == set(KINDS[name].taken_by), name


# -- adding a kind: a critic's question to an engineer, and its answer (team/GRAPH.md, "Adding a message kind")

QA_TEAM = """name: asks
description: a critic asks the engineer about each result before it decides
agents:
  director: {role: director}
  engineer: {role: engineer, replicas: 2}
  critic: {role: critic}
  editor: {role: editor}
edges:
  - {from: director, to: engineer}
  - {from: engineer, to: critic}
  - {from: critic, to: engineer, max_loops: 3}
  - {from: critic, to: editor, when: accept}
stop: {rounds: 2}
"""


@pytest.fixture
def question_and_answer():
    """The two payload classes and two handlers a contributor writes; the critic's result handler is
    replaced for the test by one that asks first (a contributor would edit review_result instead)."""
    from dataclasses import dataclass, replace

    from roles import flow
    from roles.flow import ResultPayload, Sends
    from team.engine.acts import critic, table
    from team.engine.acts.table import handles

    @flow.kind("question", taken_by=("engineer",), sent=(Sends("critic", after=("result",), to=("engineer",)),))
    @dataclass(frozen=True)
    class Question:
        result: ResultPayload
        text: str

        def summary(self) -> dict:
            return {"job_id": self.result.outcome.job_id}

    @flow.kind("answer", taken_by=("critic",), sent=(Sends("engineer", after=("question",), to=("critic",)),))
    @dataclass(frozen=True)
    class Answer:
        question: Question
        text: str

        def summary(self) -> dict:
            return {"job_id": self.question.result.outcome.job_id}

    @handles("engineer", "question")
    async def answer(ctx, msg):
        node = ctx.tree.node(msg.payload.result.outcome.node)
        text = f"{node.operator}: {', '.join(node.operators) or 'the knobs only'}"
        ctx.send("question", Answer(msg.payload, text), round=msg.round, lane=msg.lane, parent=msg.id, loops=msg.loops)

    @handles("critic", "answer")
    async def review_answered(ctx, msg):
        await critic.review_result(ctx, replace(msg, kind="result", payload=msg.payload.question.result))

    async def ask_first(ctx, msg):
        ctx.send("result", Question(msg.payload, "what did you change?"), round=msg.round, lane=msg.lane,
                 parent=msg.id, loops=msg.loops)

    built_in = table.ACTS["critic", "result"]
    table.ACTS["critic", "result"] = ask_first
    try:
        yield
    finally:
        table.ACTS["critic", "result"] = built_in
        for role, kind in (("engineer", "question"), ("critic", "answer")):
            table.forget(role, kind)
        flow.withdraw("question")
        flow.withdraw("answer")


def test_a_new_kind_is_a_payload_class_and_its_handlers(tmp_path, question_and_answer):
    import json
    import subprocess
    import sys

    from team.config.topology import load_team
    from team.engine.acts import ACTS
    from tests.engine_rig import rows_of, run_scripted

    path = tmp_path / "asks.yaml"
    path.write_text(QA_TEAM)
    team = load_team(path)  # validation: the new kinds travel the edges that can carry them
    kinds = {e.name: e.kinds for e in team.edges}
    assert "question" in kinds["critic->engineer"] and "answer" in kinds["engineer->critic"]
    assert "question" not in kinds["critic->editor"]  # an editor takes no question
    assert set(ACTS) == {(role, kind) for role in ROLE_KINDS for kind in handles(role)}

    run, result = run_scripted(tmp_path, QA_TEAM, budget="wall=60s,job_seconds=300s")
    rows = rows_of(run)
    messages = {r["id"]: r for r in rows if r["event"] == "message"}
    questions = [m for m in messages.values() if m["kind"] == "question"]
    answers = [m for m in messages.values() if m["kind"] == "answer"]
    assert questions and len(answers) == len(questions)
    for a in answers:  # each answer answers a question, from the engineer that was asked, about the same job
        q = messages[a["parent"]]
        assert q["kind"] == "question" and q["to"] == a["from"] and q["job_id"] == a["job_id"]
    verdicts = [r for r in rows if r["event"] == "verdict" and r.get("subject") == "result"]
    assert {v["parent"] for v in verdicts} <= {a["id"] for a in answers}  # the critic decided after the answer
    assert result["final_members"]
    check = subprocess.run([sys.executable, str(ROOT.parent / "shared" / "tools" / "check_events.py"), str(path),
                            str(run)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert json.loads((run / "result.json").read_text())["stop_reason"]
