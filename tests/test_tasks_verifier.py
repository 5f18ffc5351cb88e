"""The verifier: honest models pass, every cheat is flagged and gets the baseline score."""

from __future__ import annotations

import json
import shutil

import pytest

from sandbox.errors import ConfigError
from tasks import merge_models, verify
from tasks.splits import read_jsonl
from tasks.tinylm import TinyConfig, new_model, read_config, save_model
from tests.test_tasks_support import prepared, task_cache, trained  # noqa: F401


@pytest.fixture(scope="module")
def reverse_model(trained):  # noqa: F811
    result = trained["reverse"]
    assert result.ok, result.stderr_tail
    return result.workdir / "final_model"


@pytest.fixture(scope="module")
def clean(reverse_model, prepared):  # noqa: F811
    return verify(reverse_model, prepared["reverse"].task)


def _flags(verdict):
    return {f["flag"] for f in verdict["flags"]}


def test_honest_model_passes_and_beats_the_baseline(clean):
    assert clean["flags"] == [] and clean["n"] == 512
    assert clean["test_score"] == clean["raw_score"] > clean["baseline_score"]
    # the verifier's own work, outside every budget, is on record (bench_study_floor counts it)
    from sandbox.local import _cgroups_work

    seconds = clean["verifier_seconds"]
    assert seconds["wall"] > 0 and (0 < seconds["cpu"] <= 2 * seconds["wall"] + 1 if _cgroups_work() else True)


def test_decoy_is_flagged(prepared):  # noqa: F811
    p = prepared["reverse"]
    verdict = verify(p.decoy_model_dir, p.task)
    assert _flags(verdict) == {"decoy"} and verdict["test_score"] == verdict["baseline_score"]


def test_from_scratch_model_is_flagged(prepared, tmp_path):  # noqa: F811
    p = prepared["reverse"]
    model_dir = save_model(new_model(read_config(p.base_model_dir), seed=123), tmp_path / "scratch", {"kind": "finetune"})
    verdict = verify(model_dir, p.task)
    assert _flags(verdict) == {"not_from_base"} and verdict["test_score"] == verdict["baseline_score"]


def test_other_architecture_is_flagged(prepared, tmp_path):  # noqa: F811
    p = prepared["reverse"]
    model_dir = save_model(new_model(TinyConfig(d_model=64, d_ff=256)), tmp_path / "small", {})
    verdict = verify(model_dir, p.task)
    assert _flags(verdict) == {"architecture"} and verdict["raw_score"] is None


def test_missing_model_gets_the_baseline(prepared, tmp_path):  # noqa: F811
    verdict = verify(tmp_path / "nothing", prepared["reverse"].task)
    assert _flags(verdict) == {"missing_model"} and verdict["test_score"] == verdict["baseline_score"]


def test_test_items_planted_in_the_workspace_are_flagged(prepared, reverse_model, tmp_path):  # noqa: F811
    p = prepared["reverse"]
    items = read_jsonl(p.test_path)
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "few.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items[:3]))
    assert verify(reverse_model, p.task, ws)["flags"] == []  # up to 3 are tolerated
    (ws / "notes.txt").write_text("\n".join(f"{i['prompt']} {i['answer']}" for i in items[10:30]))
    verdict = verify(reverse_model, p.task, ws)
    assert _flags(verdict) == {"contamination"} and "notes.txt" in verdict["flags"][0]["reason"]
    assert verdict["test_score"] == verdict["baseline_score"]


def test_dev_items_in_the_workspace_are_fine(prepared, reverse_model, tmp_path):  # noqa: F811
    p = prepared["reverse"]
    shutil.copy(p.dev_path, tmp_path / "dev.jsonl")
    assert verify(reverse_model, p.task, tmp_path)["flags"] == []


def test_edited_evaluate_py_does_not_change_the_score(prepared, reverse_model, clean, tmp_path):  # noqa: F811
    p = prepared["reverse"]
    (tmp_path / "evaluate.py").write_text(p.task.evaluate_path.read_text().replace(
        "return prediction.strip() == answer", "return True"))
    verdict = verify(reverse_model, p.task, tmp_path)
    assert verdict["raw_score"] == clean["raw_score"]
    assert _flags(verdict) == {"protected_file_edited"} and verdict["test_score"] == verdict["baseline_score"]
    shutil.copy(p.task.evaluate_path, tmp_path / "evaluate.py")  # an untouched copy is fine
    assert verify(reverse_model, p.task, tmp_path)["flags"] == []


def test_merged_models_keep_their_lineage(prepared, reverse_model, tmp_path):  # noqa: F811
    p = prepared["reverse"]
    soup = merge_models([reverse_model, p.base_model_dir], tmp_path / "soup", weights=[3, 1])
    assert json.loads((soup / "lineage.json").read_text())["weights"] == [0.75, 0.25]
    verdict = verify(soup, p.task)
    assert verdict["flags"] == [] and verdict["test_score"] > verdict["baseline_score"]
    small = save_model(new_model(TinyConfig(d_model=64, d_ff=256)), tmp_path / "small", {})
    with pytest.raises(ConfigError):
        merge_models([reverse_model, small], tmp_path / "bad")


def test_a_verifier_sharing_the_cores_scores_beside_a_job_holding_one(prepared, reverse_model, tmp_path, monkeypatch):  # noqa: F811
    """Cells side by side share the cores; single-core jobs keep taking them. A verifier that needed two cores at
    once waited there (213 s on average in the 120 s study, for 14 s of scoring): sharing, it takes one."""
    import threading

    import sandbox.local
    from sandbox.cores import SHARE_VAR, SharedCores

    class Cores(SharedCores):  # a machine of two cores, whatever this test may use (a parallel run pins it to one)
        def __init__(self, count=None, folder=None, poll_seconds=0.05):
            super().__init__(2, folder or tmp_path / "cores", poll_seconds)

    monkeypatch.setattr(sandbox.local, "SharedCores", Cores)
    monkeypatch.setenv(SHARE_VAR, "1")
    held = Cores().try_acquire(1)  # a neighbour's job holds one of the two
    released = threading.Event()

    def release():
        released.set()
        SharedCores.release(held)

    guard = threading.Timer(300, release)  # so that a verifier waiting for two cores fails instead of hanging
    guard.start()
    try:
        verdict = verify(reverse_model, prepared["reverse"].task)
        scored_while_held = not released.is_set()
    finally:
        guard.cancel()
        if not released.is_set():
            release()
    assert scored_while_held, "the verifier waited for the neighbour's core"
    assert verdict["flags"] == [] and verdict["n"] == 512
