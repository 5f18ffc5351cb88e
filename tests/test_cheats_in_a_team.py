"""Every cheat is contained when an engineer of a real team writes it: a `pair` team whose engineer is
`team.testing.CheatingEngineer` runs each cheating program of `tasks.cheats` as its patch, in the real
sandbox, and the run ends with the cheat contained, the team not fooled (its decisions use the harness's
dev score, never the printed one) and the final score flagged or at the baseline."""

from __future__ import annotations

import json

import pytest

from team import Hooks, RunOptions, start_run
from team.engine.records.events import read_events
from team.testing import CheatingEngineer
from tests.test_run import quick_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    from tasks import load_task, prepare_task

    path = quick_task(tmp_path_factory.mktemp("tasks"))
    prepare_task(load_task(str(path)))
    return str(path)


def _run(tmp_path, task, cheat):
    hooks = Hooks(model=lambda name, inner: CheatingEngineer(cheat) if name == "engineer" else inner)
    out = tmp_path / cheat
    result = start_run(RunOptions(team="pair", task=task, out=str(out), budget="wall=40s,job_seconds=60s",
                                  job_seconds=20.0, progress=False), hooks=hooks)
    rows = read_events(out / "events.jsonl")
    jobs = [r for r in rows if r["event"] == "job_finished" and r.get("kind") != "dev_eval"]
    assert jobs, "the cheating engineer ran no job"
    return out, result, rows, jobs


def _reports(out, jobs):
    found = []
    for job in jobs:
        path = out / "jobs" / job["job_id"] / "cheat_report.json"
        if path.exists():
            found.append(json.loads(path.read_text()))
    return found


def _not_fooled(result, rows):
    verdicts = [r for r in rows if r["event"] == "verdict" and r.get("subject") == "result"]
    assert verdicts and all(v["decision"] != "accept" for v in verdicts), verdicts
    assert not result["final_members"] and result["test_score"] == result["baseline_score"]


@pytest.mark.parametrize("cheat", ["fake_dev", "test_split", "outside_write", "decoy", "network"])
def test_a_cheating_engineer_is_contained(tmp_path, task, cheat):
    out, result, rows, jobs = _run(tmp_path, task, cheat)
    for job in jobs:  # the team judged the harness's score: the base model's, not the printed 1.0
        assert job["dev_accuracy"] is None or job["dev_accuracy"] < 0.5, job
        if job.get("reported_dev") is not None and job["dev_accuracy"] is not None:
            assert "reported_dev_differs" in " ".join(job["outcome"]["flags"])
    _not_fooled(result, rows)
    reports = _reports(out, jobs)
    if cheat != "fake_dev":
        assert reports
    for report in reports:
        for attempt, what in report.items():
            assert what.startswith("denied") or _harmless(attempt, what, out), (attempt, what)


def _harmless(attempt: str, what: str, out) -> bool:
    """What a cheat may do inside its own sandbox without reaching anything of the host's."""
    if attempt in ("local_evaluate_copy", "rebuild_from_public_code", "copy_base", "proc_roots"):
        return True  # its own copies, a split rebuilt with the wrong (public) seed, its own pid namespace
    if attempt == "cache_listing":  # the cache shows only the job's own read paths: the base model
        return all("/base/" in path for path in json.loads(what[4:].replace("'", '"')))
    if attempt == "parent_dir":  # written into the job's private /tmp, never next to the run's jobs
        return not list((out / "jobs").glob("planted.py")) and not (out / "planted.py").exists()
    return False
