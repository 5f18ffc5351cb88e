"""The team commands as a user runs them: real subprocesses, exit codes, no tracebacks."""

import json
import os
import subprocess
import sys

import pytest

from team.cli import main

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def synthteam(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "team.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=120)


def test_validate_builtins_ok():
    out = synthteam("validate", "research", "pair", "solo")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ok: ") == 3


def test_validate_broken_file_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nagents:\n  a: {role: nobody}\nmerge: avg\n")
    out = synthteam("validate", str(bad))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines == [f"{bad}:3: agent 'a': unknown role 'nobody' (known: critic, director, editor, engineer, random_search, reference, sampler, solo, tpe_search)",
                     f"{bad}:4: merge: Input should be 'best', 'soup' or 'greedy_soup'"]


def test_validate_does_not_import_torch_or_litellm(tmp_path):
    code = ("import sys; from team.cli import main; rc = main(['validate', 'research']); "
            "print(sorted(m for m in ('torch', 'litellm') if m in sys.modules)); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_show_text_and_png(tmp_path):
    png = tmp_path / "g.png"
    out = synthteam("show", "research", "--png", str(png))
    assert out.returncode == 0, out.stderr
    assert "critic -> engineer  [when revise, max_loops 2]  carries: verdict" in out.stdout
    assert "engineer x4: engineer" in out.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schema_team_is_json_schema():
    out = synthteam("schema", "team")
    schema = json.loads(out.stdout)
    assert schema["additionalProperties"] is False
    assert {"agents", "edges", "merge", "budget", "stop"} <= set(schema["properties"])


def test_teams_json_lists_builtins():
    rows = json.loads(synthteam("teams", "--json").stdout)
    assert {r["name"] for r in rows} >= {"solo", "pair", "research"}
    assert all(r["description"] for r in rows)


def test_version_and_help_on_every_command(capsys):
    assert synthteam("--version").stdout.startswith("synthteam ")
    from team.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    for name in commands:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: synthteam" in capsys.readouterr().out


def test_the_json_schema_accepts_every_builtin_and_test_team_file():
    import jsonschema
    from ruamel.yaml import YAML

    from roles.library import team_files
    from team.config.spec import TeamSpec
    from tests import test_engine_topologies as topologies

    schema = TeamSpec.model_json_schema(by_alias=True)
    texts = [p.read_text() for p in team_files().values()]
    texts += [getattr(topologies, n) for n in ("TWO_LABS", "PLAN_REVIEW", "HIERARCHY", "SIGN_OFF", "PANEL", "PEER_REVIEW")]
    for text in texts:
        jsonschema.validate(YAML(typ="safe").load(text), schema)  # raises on any file an editor would underline
    bad = YAML(typ="safe").load(texts[0])
    bad["budget"] = {"wall": "10 minutes"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_validate_checks_task_files_and_task_folders_as_tasks(tmp_path):
    import shutil

    from tasks.spec import BUILTIN_DIR

    task = tmp_path / "mytask"
    shutil.copytree(BUILTIN_DIR / "reverse", task)
    out = synthteam("validate", str(task), str(task / "task.yaml"), "add3", "solo")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"ok: {task}: task 'reverse' (tiny, base model tinylm-base), 13 knobs",
        f"ok: {task / 'task.yaml'}: task 'reverse' (tiny, base model tinylm-base), 13 knobs",
        "ok: add3: task 'add3' (tiny, base model tinylm-base), 13 knobs",
        "ok: solo: team 'solo', 1 agent, 1 edge"]  # one, not "1 agents"
    text = (task / "task.yaml").read_text()
    (task / "task.yaml").write_text(text.replace("kind: tiny", "kind: tiny\ncolour: blue"))
    (task / "copy.yaml").write_text(text.replace("reference: {lr: 3.0e-3", "reference: {lr: [1, 2]"))
    out = synthteam("validate", str(task), str(task / "copy.yaml"), str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line = 1 + text.splitlines().index("kind: tiny") + 1
    assert out.stderr.strip().splitlines() == [
        f"{task / 'task.yaml'}:{line}: top level: unknown key 'colour'",  # not 14 team-schema lines
        f"{task / 'copy.yaml'}:32: reference.lr: lr: expected a number, got [1, 2]",
        f"{tmp_path}:1: not a task folder (it holds no task.yaml, nor a PostTrainBench benchmark.txt and "
        "evaluate.py); validate takes team files, task files and task folders"]


def test_validate_words_yaml_kinds_and_show_uses_the_files_key_names(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- engineer\n- critic\n")
    out = synthteam("validate", str(bad))
    assert out.stderr.strip() == f"{bad}:1: expected a mapping (key: value lines) at the top level, got a list"
    team = tmp_path / "labels.yaml"
    team.write_text("name: labels\nagents:\n  engineer: {role: engineer}\n  critic:\n    role: critic\n"
                    "    settings: {labels: {close: {means: reject, if: within_noise}}}\nedges:\n"
                    "  - {from: engineer, to: critic}\n  - {from: critic, to: engineer, when: [revise, close], "
                    "max_loops: 2}\n")
    out = synthteam("show", str(team))
    assert out.returncode == 0, out.stderr
    assert "'close': {'means': 'reject', 'if': 'within_noise'" in out.stdout and "condition" not in out.stdout
    team.write_text(team.read_text().replace("if: within_noise", "if: sometimes"))
    out = synthteam("validate", str(team))
    assert out.stderr.strip().startswith(f"{team}:6: agent 'critic': settings.labels.close.if: Input should be "), \
        out.stderr
    assert "condition" not in out.stderr and "(a critic's settings" in out.stderr
    team.write_text(team.read_text().replace("{role: engineer}", "{role: engineer, settings: {seed_offset: -1}}"))
    assert "(an engineer's settings: seed_offset)" in synthteam("validate", str(team)).stderr
