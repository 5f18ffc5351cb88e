"""Team files: the built-in teams load; every broken case is one FILE:LINE line."""

import re
from pathlib import Path

import pytest

from sandbox.errors import ConfigError
from team.config.topology import load_team

GOOD = """\
name: t
agents:
  director: {role: director}
  engineer: {role: engineer, replicas: 2}
  critic: {role: critic}
  editor: {role: editor}
edges:
  - {from: director, to: engineer}
  - {from: engineer, to: critic}
  - {from: critic, to: engineer, when: revise, max_loops: 2}
  - {from: critic, to: editor, when: accept}
  - {from: editor, to: director, max_loops: 3}
"""


def problems(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "team.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as info:
        load_team(path)
    for line in info.value.problems:
        assert re.match(rf"^{re.escape(str(path))}:\d+: \S", line), line
        assert "\n" not in line
    return info.value.problems


@pytest.mark.parametrize("name", ["research", "pair", "solo"])
def test_builtin_teams_load(name):
    team = load_team(name)
    assert team.name == name
    assert team.entry in team.agents


def test_research_team_shape():
    team = load_team("research")
    assert team.agents["engineer"].replicas == 4
    assert team.agents["critic"].replicas == 2
    assert team.budget["wall"] == 600 and team.budget["job_seconds"] == 360
    assert team.merge == "greedy_soup" and team.rounds == 5 and team.plateau == 2
    assert [e.when for e in team.out_edges("critic")] == [("revise",), ("accept",)]


def test_good_file_loads(tmp_path):
    (tmp_path / "t.yaml").write_text(GOOD)
    team = load_team(tmp_path / "t.yaml")
    assert team.agents["engineer"].replica_names() == ("engineer[0]", "engineer[1]")
    assert team.agents["engineer"].model.model == "scripted"


def test_role_extension_and_overrides(tmp_path):
    text = GOOD.replace("  critic: {role: critic}", "  critic: {role: statistician, model: openai/gpt-x}") + (
        "roles:\n  statistician: {extends: critic, prompt: 'twice the noise'}\n")
    (tmp_path / "t.yaml").write_text(text)
    critic = load_team(tmp_path / "t.yaml").agents["critic"]
    assert critic.kind == "critic" and critic.role.name == "statistician"
    assert critic.role.prompt == "twice the noise" and critic.model.model == "openai/gpt-x"


CASES = {
    "unknown role": (GOOD.replace("role: critic}", "role: critick}"), 5, "unknown role 'critick'"),
    "edge to nowhere": (GOOD.replace("to: editor, when", "to: editr, when"), 11, "unknown agent 'editr'"),
    "unreachable": (GOOD.replace("  - {from: critic, to: editor, when: accept}\n", ""), 6, "unreachable"),
    "cycle without max_loops": (GOOD.replace(", max_loops: 3", ""), 8, "cycle without max_loops"),
    "self-loop": (GOOD + "  - {from: critic, to: critic}\n", 13, "cycle without max_loops: critic -> critic"),
    "replicas 0": (GOOD.replace("replicas: 2", "replicas: 0"), 4, "replicas"),
    "replicas 2000": (GOOD.replace("replicas: 2", "replicas: 2000"), 4, "replicas"),
    "merge policy": (GOOD + "merge: average\n", 13, "merge"),
    "duration": (GOOD + "budget: {wall: 10 minutes}\n", 13, "duration"),
    "extends unknown": (GOOD + "roles:\n  stat: {extends: reviewer}\n", 14, "extends unknown role 'reviewer'"),
    "syntax": (GOOD + "edges: [\n", 14, "YAML error"),
    "duplicate key": (GOOD.replace("  editor: {role: editor}", "  editor: {role: editor}\n  editor: {role: editor}"),
                      7, "duplicate key"),
    "empty": ("", 1, "empty"),
    "comments only": ("# nothing\n", 1, "empty"),
    "not a mapping": ("- a\n- b\n", 1, "expected a mapping"),
    "not text": (b"name: \xff\xfe\x00 team\n", 1, "not UTF-8"),
    "unknown key": (GOOD + "colour: blue\n", 13, "unknown key 'colour'"),
    "agent unknown key": (GOOD.replace("replicas: 2}", "replicas: 2, gpus: 3}"), 4, "unknown key 'gpus'"),
    "bad when": (GOOD.replace("when: accept", "when: maybe"), 11, "edges[3] critic -> editor: `when: maybe` is not a decision"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_case_reports_file_line(tmp_path, case):
    text, line, needle = CASES[case]
    found = problems(tmp_path, text)
    assert any(f":{line}: " in p and needle in p for p in found), found


def test_all_problems_of_a_file_reported_together(tmp_path):
    text = GOOD.replace("role: critic}", "role: critick}").replace("to: editor, when", "to: editr, when")
    text += "merge: average\n"
    found = problems(tmp_path, text)
    assert len(found) >= 3
    assert [int(p.split(":")[1]) for p in found] == sorted(int(p.split(":")[1]) for p in found)


def test_missing_file_and_unknown_builtin(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_team(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="no such team"):
        load_team("nosuchteam")


@pytest.mark.parametrize("when", ["promising", "[accept, promising]"])
def test_a_when_that_names_no_decision_is_one_line(tmp_path, when):
    """A label the source critic's settings do not declare (team/GRAPH.md, custom labels)."""
    found = problems(tmp_path, GOOD.replace("when: accept}", f"when: {when}}}"))
    assert len(found) == 1 and ":11: edges[3] critic -> editor: `when: promising` is not a decision critic makes: " \
                               "accept, revise, reject, or a label declared in critic's settings" in found[0], found


@pytest.mark.parametrize("when", ["Accept", "3", "'not a label'"])
def test_a_when_that_cannot_be_a_label_is_one_line(tmp_path, when):
    found = problems(tmp_path, GOOD.replace("when: accept}", f"when: {when}}}"))
    assert len(found) == 1 and ":11: " in found[0] and "is not a decision: `when` takes accept, revise, reject or " \
                                                        "a label" in found[0], found


def test_a_duplicate_edge_is_refused_at_the_line_of_the_second(tmp_path):
    found = problems(tmp_path, GOOD + "  - {to: critic, from: engineer}\n")
    assert found == [f"{tmp_path / 'team.yaml'}:13: edges[5] engineer -> critic: the same edge as edges[1] (line 9): "
                     "every message would travel twice (remove one)"]
    problems(tmp_path, GOOD + "  - {from: critic, to: editor, when: [accept]}\n")  # `when: accept` said twice
    (tmp_path / "ok.yaml").write_text(GOOD + "  - {from: critic, to: editor, when: reject}\n")  # other messages
    assert len(load_team(tmp_path / "ok.yaml").edges) == 6


def _rename(agent: str, to: str) -> str:
    return GOOD.replace(f"  {agent}: ", f"  {to}: ").replace(f"from: {agent}", f"from: {to}").replace(
        f"to: {agent}", f"to: {to}")


@pytest.mark.parametrize("text, line, says", [
    (GOOD.replace("name: t", 'name: "Bad Name!/../x"'), 1,
     "name 'Bad Name!/../x': a team name holds only a-z, 0-9, '-' and '_' (it names the run folder), e.g. bad_name_x"),
    (GOOD.replace("name: t", "name: T1"), 1, "name 'T1': a team name holds only"),
    (_rename("critic", "Critic"), 5, "agent 'Critic': an agent name holds only a-z, 0-9, '-' and '_', e.g. critic"),
    (_rename("editor", "edit.or"), 6, "agent 'edit.or': an agent name holds only"),
])
def test_team_and_agent_names_are_lowercase_letters_digits_dash_underscore(tmp_path, text, line, says):
    found = problems(tmp_path, text)
    assert len(found) == 1 and f":{line}: {says}" in found[0], found


@pytest.mark.parametrize("edit, line, says", [
    (("{from: engineer, to: critic}", "{from: engineer, to: critic, max_loops: 0}"), 9,
     "edges[1].max_loops: Input should be greater than or equal to 1"),
    (("{from: editor, to: director, max_loops: 3}", "{from: editor, to: director, max_loops: x}"), 12,
     "edges[4].max_loops: Input should be a valid integer"),
    (("  director: {role: director}\n  engineer: {role: engineer, replicas: 2}\n  critic: {role: critic}\n"
      "  editor: {role: editor}\n", "  - director\n  - engineer\n"), 2, "agents: Input should be a valid dictionary"),
    (("replicas: 2}", "replicas: 0}"), 4, "agents.engineer.replicas: Input should be greater than or equal to 1"),
])
def test_only_the_root_cause_is_reported(tmp_path, edit, line, says):
    """One wrong value, one line: not also the critic "unreachable", "no entry agent" or a free cycle that
    follow from it."""
    found = problems(tmp_path, GOOD.replace(*edit))
    assert len(found) == 1 and f":{line}: {says}" in found[0], found


def test_a_and_an_before_a_role_kind(tmp_path):
    found = problems(tmp_path, GOOD.replace("{from: engineer, to: critic}", "{from: engineer, to: critic, when: accept}"))
    assert len(found) == 1 and found[0].endswith("(engineer is an engineer)"), found
    found = problems(tmp_path, GOOD.replace("{from: director, to: engineer}", "{from: critic, to: engineer}")
                     + "entry: editor\n")
    assert any("entry: an editor cannot start a run" in p for p in found), found
