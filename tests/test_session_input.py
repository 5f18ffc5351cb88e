"""A run folder as a new user meets it: a refused `run` leaves no folder behind, `--out` never mixes a run into
someone's files, a broken manifest is one line, and a run folder resumes from any working directory (its
manifest holds absolute paths and a copy of the team file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from team.engine.records.events import read_events
from tests.engine_rig import resume_scripted, run_scripted

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "team.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=120, cwd=cwd)


def _one_line_refusal(proc: subprocess.CompletedProcess, *says: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, (proc.returncode, err)
    for text in says:
        assert text in err, err


@pytest.mark.parametrize("flags, says", [
    (("--gpus", "4096"), "a job would wait for one forever"),
    (("--replay", "nosuch.jsonl"), "--replay nosuch.jsonl: no such cassette"),
])
def test_a_refused_run_leaves_no_folder_behind(tmp_path, flags, says):
    proc = _cli(tmp_path, "run", "--team", "pair", "--budget", "20s", *flags)
    _one_line_refusal(proc, says)
    assert list(tmp_path.iterdir()) == [], list(tmp_path.rglob("*"))


def test_out_refuses_a_file_and_a_folder_that_is_not_a_run_and_leaves_both_as_they_were(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.csv").write_text("1,2")
    _one_line_refusal(_cli(tmp_path, "run", "--team", "pair", "--out", "notes.txt"), "names a file")
    _one_line_refusal(_cli(tmp_path, "run", "--team", "pair", "--out", "mine"), "not a run")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["data.csv"]


@pytest.mark.parametrize("manifest, says", [("{bad", "not valid JSON"), ("{}", "lacks options, team, limits"),
                                            (None, "not a run directory")])
def test_resume_of_a_folder_with_a_broken_manifest_is_one_line(tmp_path, manifest, says):
    run = tmp_path / "run"
    run.mkdir()
    if manifest is not None:
        (run / "manifest.json").write_text(manifest)
    _one_line_refusal(_cli(tmp_path, "resume", "run"), says)
    _one_line_refusal(_cli(tmp_path, "resume", "nosuch"), "no such run folder")


def test_a_run_folder_resumes_from_anywhere_even_when_its_team_file_is_gone(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "duo.yaml").write_text((Path(__file__).parents[1] / "roles" / "teams" / "pair.yaml").read_text())
    monkeypatch.chdir(work)
    run, _ = run_scripted(work, "duo.yaml", budget="wall=30s,job_seconds=30s", seconds=0.2)
    manifest = json.loads((run / "manifest.json").read_text())
    assert Path(manifest["options"]["team"]).is_absolute() and Path(manifest["team"]["path"]).is_absolute()
    assert (run / "team.yaml").read_text() == (work / "duo.yaml").read_text()
    (work / "duo.yaml").unlink()  # moved, edited or deleted: the run folder holds what it started with
    assert resume_scripted(run)["finished_before"]  # a finished run is left as it is
    (run / "result.json").unlink()  # as if the run had died while its final model was being verified
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = resume_scripted(run)
    assert result["final_members"]
    assert sum(r["event"] == "session_start" for r in read_events(run / "events.jsonl")) == 2


def test_model_written_code_needs_bubblewrap_unless_the_user_accepts_the_risk(tmp_path, monkeypatch):
    import sandbox.local
    from sandbox.errors import ConfigError
    from team import RunOptions, start_run

    monkeypatch.setattr(sandbox.local, "bwrap_problem", lambda: "not installed")
    llm = RunOptions(team="pair", task="reverse", out=str(tmp_path / "run"), model="openai/test-model",
                     api_base="http://127.0.0.1:9/v1", progress=False)
    with pytest.raises(ConfigError, match="bubblewrap is not installed: install it .* --no-isolation") as info:
        start_run(llm)
    assert len(info.value.problems) == 1 and not (tmp_path / "run").exists()
    from dataclasses import replace

    with pytest.raises(ConfigError, match="127.0.0.1:9") as info:  # accepted: the next check (the server) speaks
        start_run(replace(llm, isolation="none"))
    assert "bubblewrap" not in str(info.value)
    run, result = run_scripted(tmp_path, "pair", name="scripted", budget="wall=20s,job_seconds=20s", seconds=0.1)
    assert result["final_members"]  # the scripted backend's programs are synthteam's own: no refusal
