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
