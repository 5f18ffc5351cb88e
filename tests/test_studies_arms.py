"""Every arm is a team, run through the same Session: the prior every arm starts from, compute reported by
use and checked for a match, and role ablations of a team — on toy jobs (team.testing.ScriptedExecutor)."""

from __future__ import annotations

import json

import pytest

from sandbox.errors import ConfigError
from team import Hooks, RunOptions
from team.config.topology import load_team
from team.engine.records.events import read_events
from team.studies.ablate import ablations, write_ablations
from team.studies.arms import ArmSpec, parse_arm
from team.studies.compare import CompareOptions, run_compare
from team.testing import ScriptedExecutor, toy_verify


class _Toys:
    """Hooks that give each run its own scripted executor (picklable: no lambdas)."""

    def __call__(self, executor):
        return ScriptedExecutor(executor.root, seconds=0.05)


def _compare(tmp_path, arms, prior="reference", reference=None, seeds=2, wall="40s"):
    hooks = Hooks(executor=_Toys(), verify=toy_verify)
    options = CompareOptions(tasks=("reverse",), arms=tuple(arms), seeds=seeds, budget=f"wall={wall},job_seconds=120s",
                             out=str(tmp_path / "cmp"), run=RunOptions(job_seconds=10.0, progress=False),
                             noise_runs=0, prior=prior, reference=reference, hooks=hooks)
    return run_compare(options, say=lambda line: None)


def _first_job_config(run_dir):
    for row in read_events(run_dir / "events.jsonl"):
        if row["event"] == "job_finished" and row.get("kind") != "dev_eval":
            return {k: v for k, v in row["outcome"]["config"].items() if k != "seed"}
    return None


@pytest.mark.parametrize("prior", ["reference", "defaults"])
def test_every_arm_starts_from_the_same_prior(tmp_path, prior):
    from tasks import load_task

    arms = [parse_arm("solo"), parse_arm("team=research"), parse_arm("random"), parse_arm("tpe"),
            parse_arm("parallel=solo-parallel")]
    comparison = _compare(tmp_path, arms, prior=prior, seeds=1, wall="20s")  # toy jobs: search arms fill the wall; a job and its dev evaluation need ~18 s of it
    task = load_task("reverse")
    want = {k: v for k, v in (task.reference if prior == "reference" else task.defaults()).items() if k != "seed"}
    for arm in arms:
        run = tmp_path / "cmp" / "cells" / "reverse" / arm.name / "s0"
        assert _first_job_config(run) == want, arm.name
    assert comparison["prior"] == prior and comparison["tasks"]["reverse"]["prior"] == prior
    assert f"prior **{prior}**" in (tmp_path / "cmp" / "comparison.md").read_text()


def test_compute_used_and_available_per_arm_and_a_warning_when_use_differs(tmp_path):
    comparison = _compare(tmp_path, [parse_arm("solo"), parse_arm("parallel=solo-parallel")])
    task = comparison["tasks"]["reverse"]
    for arm in task["arms"].values():
        c = arm["compute"]
        assert c["job_seconds"] > 0 and c["model_calls"] > 0 and c["slot_seconds_available"] > 0
    solo, par = (task["arms"][a]["compute"]["job_seconds"] for a in ("solo", "parallel"))
    assert (abs(par - solo) > 0.1 * min(solo, par)) == bool(task["warnings"])
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert "slot_seconds_available" in saved["tasks"]["reverse"]["arms"]["solo"]["compute"]


def test_ablations_of_the_research_team_rewire_and_validate(tmp_path):
    team = load_team("research")
    raw = ablations(team)
    assert set(raw) == {"no-critic", "no-editor", "one-engineer"}
    no_critic = {(e["from"], e["to"]) for e in raw["no-critic"]["edges"]}
    assert ("engineer", "editor") in no_critic and all("critic" not in e for e in no_critic)
    no_editor = raw["no-editor"]["edges"]
    assert {"from": "critic", "to": "director", "when": "accept", "max_loops": 5} in no_editor
    paths = write_ablations(team, tmp_path / "abl")
    for path in paths.values():
        load_team(path)


def test_compare_ablate_reports_what_each_role_adds(tmp_path):
    team = load_team("research")
    paths = write_ablations(team, tmp_path / "abl")
    arms = [ArmSpec("full", "team", "research")] + [ArmSpec(n, "team", str(p)) for n, p in paths.items()]
    comparison = _compare(tmp_path, arms, reference="full")
    paired = comparison["tasks"]["reverse"]["paired"]
    assert set(paired) == {"no-critic", "no-editor", "one-engineer"}
    assert all(d["against"] == "full" and len(d["diffs"]) == 2 for d in paired.values())


def test_a_team_with_one_agent_has_nothing_to_ablate():
    with pytest.raises(ConfigError, match="nothing to remove"):
        ablations(load_team("solo"))


def test_a_prior_the_task_cannot_give_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="unknown prior"):
        _compare(tmp_path, [parse_arm("solo")], prior="oracle")


def test_the_starter_prior_is_the_starter_programs_constants():
    from tasks import load_task
    from tasks.solutions import constants, starter
    from team.engine.run.options import prior_config

    task = load_task("reverse")
    prior = prior_config(task, "starter")
    assert prior == {k.lower(): v for k, v in constants(starter(task)).items() if k.lower() in task.knobs}
    assert prior == task.defaults()  # the starter is the plain knob-default baseline


def test_an_interrupted_cell_stops_the_comparison_and_is_left_to_resume(tmp_path, monkeypatch):
    """Ctrl-C in a cell is not a failed cell scored at the baseline: it propagates (compare exits 130) and
    the cell keeps no result.json, so rerunning the comparison resumes it."""
    import signal

    import team.studies.arms as arms
    from team.engine.run.session import Interrupted
    from team.studies.arms import Cell, run_cell

    def interrupted(cell, run_dir, *args):
        raise Interrupted(run_dir, signal.SIGINT)

    monkeypatch.setattr(arms, "_team_run", interrupted)
    cell = Cell("reverse", parse_arm("solo"), 0, tmp_path / "cell", {"wall": 60.0}, RunOptions(progress=False))
    cell.run_dir.mkdir()
    with pytest.raises(Interrupted):
        run_cell(cell)
    assert not (cell.run_dir / "result.json").exists()
    monkeypatch.setattr(arms, "_team_run", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    assert run_cell(cell)["arm"] == "solo" and (cell.run_dir / "result.json").exists()  # a crash is recorded


class _SlowFirstSubmit(ScriptedExecutor):
    """The first submission takes a while (a big work dir to write), every later one is instant: without an
    order, the second lane's job would be logged as started first."""

    calls = 0

    async def submit(self, job):
        import asyncio

        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(0.3)
        return await super().submit(job)


@pytest.mark.parametrize("team", ["random", "tpe", "solo-parallel", "research"])
def test_the_prior_is_the_first_job_started_even_when_lanes_submit_at_once(tmp_path, team):
    from tasks import load_task
    from team import start_run

    out = tmp_path / "run"
    hooks = Hooks(executor=lambda _: _SlowFirstSubmit(out / "jobs", seconds=0.05), verify=toy_verify)
    start_run(RunOptions(team=team, task="reverse", out=str(out), budget="wall=20s,job_seconds=60s", prior="reference",
                         job_seconds=10.0, progress=False), hooks=hooks)
    started = [r for r in read_events(out / "events.jsonl") if r["event"] == "job_started" and r["role"] != "harness"]
    assert len(started) >= 2
    want = {k: v for k, v in load_task("reverse").reference.items() if k != "seed"}
    assert {k: v for k, v in started[0]["config"].items() if k != "seed"} == want


_SIDE_BY_SIDE = """
import sys
from sandbox.errors import SynthteamError
from team import Hooks, RunOptions
from team.studies.arms import parse_arm
from team.studies.compare import CompareOptions, run_compare
from team.testing import ScriptedExecutor, toy_verify

class Toys:
    def __call__(self, executor):
        return ScriptedExecutor(executor.root, seconds=1.5)

options = CompareOptions(tasks=("reverse",), arms=(parse_arm("solo"), parse_arm("random")), seeds=2,
                         budget="wall=25s,job_seconds=40s", out=sys.argv[1], parallel=2, noise_runs=0,
                         run=RunOptions(job_seconds=10.0, progress=False), hooks=Hooks(executor=Toys(), verify=toy_verify))
try:
    run_compare(options, say=lambda line: print(line, flush=True))
except SynthteamError as exc:  # what the CLI does with it (team/cli: 128 + the signal)
    print(exc, file=sys.stderr)
    sys.exit(128 + exc.signum)
"""


def test_ctrl_c_stops_cells_side_by_side_and_the_same_command_resumes_them(tmp_path):
    """Only the main thread gets signals: with --parallel the cells' sessions run in threads, so Ctrl-C is
    forwarded to each of them (it was not: the comparison went on, and a second signal killed it)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "cmp"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    cmd = [sys.executable, "-c", _SIDE_BY_SIDE, str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cells = out / "cells" / "reverse"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(
            [p for p in cells.glob("*/s*/events.jsonl") if '"job_started"' in p.read_text()]) < 2:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the comparison did not stop on Ctrl-C") from None
    assert proc.returncode == 130, err[-2000:]
    assert "rerun the same command to resume" in err and "Traceback" not in err, err[-2000:]
    started = [p.parent for p in cells.glob("*/s*/events.jsonl")]
    assert 1 <= len(started) <= 2 and not any((d / "result.json").exists() for d in started)
    for run in started:  # each stopped its jobs and settled what it had reserved
        rows = read_events(run / "events.jsonl")
        assert any(r["event"] == "interrupted" for r in rows), run
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list(cells.glob("*/s*/result.json"))) == 4
    for run in started:
        assert sum(r["event"] == "session_start" for r in read_events(run / "events.jsonl")) == 2, run
