"""The Session holds a run directory's lifecycle: one process at a time, a wall clock that ends the run
whatever it waits on, interrupts and SIGKILLs that leave a directory which resumes without lost or
repeated jobs and charges only what was used, and bad requests refused before anything starts."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.errors import ConfigError
from team import Hooks, RunOptions, start_run
from team.engine.records.events import read_events
from team.engine.run import session as session_module
from team.testing import ScriptedExecutor, toy_verify
from tests.engine_rig import resume_scripted, rows_of, run_scripted, spawn_scripted

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(run: Path, event: str, n: int = 1, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in read_events(run / "events.jsonl") if r["event"] == event] if (run / "events.jsonl").exists() else []
        if len(rows) >= n:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"no {n} {event} rows within {timeout} s")


def _keys(rows: list[dict], event: str) -> list[str]:
    return [r["key"] for r in rows if r["event"] == event and r.get("kind") != "dev_eval" and "key" in r]


def test_a_live_run_refuses_a_second_driver_and_is_left_unchanged(tmp_path):
    proc = spawn_scripted(tmp_path, "pair", seconds=3.0)
    try:
        run = tmp_path / "run"
        _wait_for(run, "job_started")
        before = (run / "events.jsonl").read_bytes()
        with pytest.raises(ConfigError, match="this run is live"):
            resume_scripted(run)
        after = (run / "events.jsonl").read_bytes()
        assert after.startswith(before) and b"session_start" not in after[len(before):]  # nothing written by us
        assert not (run / "result.json").exists()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_cli_refuses_resume_of_a_live_run_with_one_line(tmp_path):
    proc = spawn_scripted(tmp_path, "solo", seconds=3.0)
    try:
        run = tmp_path / "run"
        _wait_for(run, "job_started")
        out = subprocess.run([sys.executable, "-m", "team.cli", "resume", str(run)], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "live" in out.stderr
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("team", ["research", "random"])
def test_a_sigkilled_run_resumes_without_lost_or_repeated_jobs_and_uses_what_is_left(tmp_path, team):
    budget = "wall=60s,job_seconds=20s"  # toy jobs take 1 s but reserve 9 (the useful minimum): about 20 jobs
    proc = spawn_scripted(tmp_path, team, seconds=1.0, budget=budget)
    run = tmp_path / "run"
    _wait_for(run, "job_finished", n=random.Random().randint(1, 3))
    time.sleep(random.Random().uniform(0.1, 0.8))  # somewhere mid-job
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = rows_of(run)
    finished = set(_keys(before, "job_finished"))
    assert finished and not (run / "result.json").exists()
    result = resume_scripted(run, seconds=1.0)
    rows = rows_of(run)
    resumed = max(i for i, r in enumerate(rows) if r["event"] == "session_start")
    assert not finished & set(_keys(rows[resumed:], "job_started")), "a finished job ran again"
    done = _keys(rows, "job_finished")
    assert len(done) == len(set(done)), "a job finished twice"
    restored = [r for r in rows[resumed:] if r["event"] == "budget_restored"]
    for line in (restored[0]["interrupted"] if restored else []):
        if line["job_id"]:  # a job the crash interrupted is charged what it used, not its reservation
            assert line["charged"]["job_seconds"] <= 1.5 < line["reserved"]["job_seconds"]
    floor = 9.0 + 5.0  # a job is not started with less than this left: its minimum and its dev evaluation's 4 s
    assert result["budget_used"]["job_seconds"] > 20 - floor - 1.0, "the resumed run did not use what the crash left"
    assert result["budget_used"]["job_seconds"] <= 20 + 1e-6


def test_ctrl_c_settles_every_reservation_and_the_run_resumes(tmp_path):
    proc = spawn_scripted(tmp_path, "pair", seconds=2.0, budget="wall=60s,job_seconds=30s")
    run = tmp_path / "run"
    _wait_for(run, "job_started", n=2)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130, proc.stderr.read().decode()[-2000:]
    rows = rows_of(run)
    assert any(r["event"] == "interrupted" for r in rows)
    reserved = {r["reservation"] for r in rows if r["event"] == "budget" and r["change"] == "reserve"}
    settled = {r["reservation"] for r in rows if r["event"] == "budget" and r["change"] == "settle"}
    assert reserved and reserved <= settled, "an interrupt left a reservation open"
    stopped = [r for r in rows if r["event"] == "job_finished" and r["status"] == "cancelled"]
    assert stopped and all(r["device_seconds"] < 2.0 for r in stopped)
    result = resume_scripted(run, seconds=0.2)
    after = rows_of(run)
    assert not any(r["event"] == "budget_restored" for r in after), "nothing was left open to restore"
    resumed = max(i for i, r in enumerate(after) if r["event"] == "session_start")
    assert any(r["event"] == "job_finished" for r in after[resumed:]) and result["final_members"]
    assert not result["stop_reason"].startswith("budget"), result["stop_reason"]  # the interrupt cost little


def _started(point: str):
    """Whether a row starts the kind of work `point` names: a training job, a harness dev evaluation, or the
    evaluation of a merge (the editor's soup)."""
    def at(row: dict) -> bool:
        if row["event"] != "job_started":
            return False
        if point == "training":
            return row.get("kind") != "dev_eval" and row.get("role") != "editor"
        return row.get("role") == ("harness" if point == "dev_eval" else "editor")
    return at


@pytest.mark.parametrize("point", ["training", "dev_eval", "merge"])
def test_an_interrupt_at_any_point_resumes_to_a_scored_final_model(tmp_path, point):
    proc = spawn_scripted(tmp_path, "research", seconds=1.0, budget="wall=90s,job_seconds=40s")
    run, deadline = tmp_path / "run", time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        rows = read_events(run / "events.jsonl") if (run / "events.jsonl").exists() else []
        if any(map(_started(point), rows)):
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130, proc.stderr.read().decode()[-2000:]
    result = resume_scripted(run, seconds=1.0)
    rows = rows_of(run)
    resumed = max(i for i, r in enumerate(rows) if r["event"] == "session_start")
    scored = [r for r in rows[resumed:] if r["event"] == "node_scored" and r["harness_dev"] is not None]
    assert scored, "the resumed session scored no job"
    assert result["final_members"] and not result["flags"], result["flags"]  # toy_verify flags a missing model
    unscored = [r for r in rows if r["event"] == "node_scored" and r["harness_dev"] is None and r["status"] == "ok"]
    assert not unscored, unscored


class _Stuck(ScriptedExecutor):
    """Jobs that never end and ignore being cancelled."""

    async def wait(self, handle):
        await asyncio.Event().wait()

    async def cancel(self, handle):
        return None


def test_the_wall_clock_ends_a_run_whose_jobs_never_finish(tmp_path, monkeypatch):
    monkeypatch.setattr(session_module, "WIND_DOWN", 1.0)
    out = tmp_path / "stuck"
    hooks = Hooks(executor=lambda _: _Stuck(out / "jobs"), verify=toy_verify)
    started = time.monotonic()
    result = start_run(RunOptions(team="pair", task="reverse", out=str(out), budget="wall=22s,job_seconds=600s",
                                  job_seconds=10, progress=False), hooks=hooks)  # 22 s: a job and its dev evaluation
    assert time.monotonic() - started < 90
    assert result["stop_reason"] == "wall-clock budget" and result["budget_used"]["wall"] < 22 + 15
    assert any(r["event"] == "job_lost" for r in rows_of(out)) and (out / "result.json").exists()


def test_a_gpu_the_machine_lacks_is_one_line_before_anything_starts(tmp_path):
    from sandbox.slots import detect_gpus

    if detect_gpus():
        pytest.skip("this machine has GPUs")
    out = subprocess.run([sys.executable, "-m", "team.cli", "run", "--team", "pair", "--gpus", "1", "--budget", "20s",
                          "--out", str(tmp_path / "g")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "GPU" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "g" / "events.jsonl").exists()


def test_a_cluster_address_nobody_listens_on_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "team.cli", "run", "--team", "pair", "--executor", "ray", "--address",
                          "127.0.0.1:1", "--budget", "20s", "--out", str(tmp_path / "r")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no Ray cluster answers" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r" / "events.jsonl").exists()


def test_result_json_is_the_runs_one_frozen_result(tmp_path):
    run, result = run_scripted(tmp_path, "research")
    saved = json.loads((run / "result.json").read_text())
    assert saved["final_members"] == result["final_members"] and saved["prior"] == "starter"
    assert saved["spend_by_agent"] and set(saved["budget_used"]) == set(saved["budget_limits"])
    rows = rows_of(run)
    assert [r["event"] for r in rows].count("result") == 1


def test_a_run_whose_verification_failed_resumes_to_its_verification_only(tmp_path):
    """The team finished and the verifier failed (an arith-hard study cell's sandbox could not import the
    harness): resuming verifies the final model the team left, and runs no job and no model call again. Before,
    the team ran again from its memos and, knowing nothing of the horizon's cost, started two more jobs."""
    from sandbox.errors import JobError

    def broken(model_dir, task, workspace=None):
        raise JobError("verify", "failed", "exit code 1: No module named 'tasks'")

    out = tmp_path / "run"
    hooks = Hooks(executor=lambda _: ScriptedExecutor(out / "jobs", seconds=0.05), verify=broken)
    with pytest.raises(JobError):
        start_run(RunOptions(team="research", task="reverse", out=str(out), budget="wall=20s,job_seconds=120s",
                             seed=0, progress=False, job_seconds=10.0), hooks=hooks)
    first = rows_of(out)
    ended = next(r for r in first if r["event"] == "team_end")
    assert not (out / "result.json").exists()

    result = resume_scripted(out)
    again = rows_of(out)[len(first):]
    assert [r["event"] for r in again if r["event"] in ("job_started", "model_call", "team_start")] == []
    assert result["stop_reason"] == ended["stop_reason"] and result["final_members"] == ended["outcome"]["final_members"]
    assert result["test_score"] is not None and (out / "result.json").exists()
    assert result["budget_used"]["job_seconds"] == pytest.approx(ended["spent"]["job_seconds"], abs=1e-6)


def test_job_tokens_sets_every_training_jobs_horizon_and_a_resume_keeps_it(tmp_path, monkeypatch):
    """`--job-tokens` (a study's job length chosen from measured noise) reaches each training job as its horizon,
    is recorded in the manifest, and is the horizon of the run's task again when the folder resumes."""
    from tasks.jobs import job_tokens
    from team.engine.run.session import load_inputs, resume_session

    out, submitted = tmp_path / "run", []

    def executor(_):
        scripted = ScriptedExecutor(out / "jobs", seconds=0.05)
        submitted.append(scripted)
        return scripted

    start_run(RunOptions(team="solo", task="reverse", out=str(out), budget="wall=30s,job_seconds=40s", job_seconds=10,
                         job_tokens=5000, progress=False), hooks=Hooks(executor=executor, verify=toy_verify))
    training = [job for s in submitted for job in s.submitted if job.metadata.get("kind") != "dev_eval"]
    assert training and {job.env.get("SYNTHTEAM_HORIZON") for job in training} == {"5000"}
    assert json.loads((out / "manifest.json").read_text())["options"]["job_tokens"] == 5000
    loaded = []
    monkeypatch.setattr(session_module, "load_inputs", lambda options: loaded.append(load_inputs(options)) or loaded[-1])
    resume_session(out, hooks=Hooks(executor=executor, verify=toy_verify))
    assert [job_tokens(task) for _, task in loaded] == [5000]
    assert job_tokens(load_inputs(RunOptions(task="reverse"))[1]) is None  # reverse's own: no horizon
