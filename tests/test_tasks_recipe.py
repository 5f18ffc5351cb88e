"""The recipe, run through the sandbox's LocalExecutor: it improves the base on every built-in task,
streams metrics, stops before its wall limit and leaves final_model/."""

from __future__ import annotations

import pytest

from tasks import dev_eval_job, verify
from tests.test_tasks_support import (  # noqa: F401
    RECIPE_WALL,
    dev_answer_loss,
    metrics_rows,
    prepared,
    run_plain,
    task_cache,
    trained,
)

pytestmark = pytest.mark.slow


def test_a_short_recipe_improves_the_base_on_every_task(trained, prepared):  # noqa: F811
    for name, result in trained.items():
        assert result.ok, (name, result.stderr_tail)
        summary = result.summary()
        assert summary["status"] == "ok" and summary["final_model"] == "final_model", summary
        assert summary["stopped"] in ("steps", "time_limit")  # it ended itself, inside its limit (else: timeout)
        p = prepared[name]
        final = result.workdir / "final_model"
        assert dev_answer_loss(final, p.dev_path) < 0.7 * dev_answer_loss(p.base_model_dir, p.dev_path), name
        verdict = verify(final, p.task)
        assert verdict["flags"] == [] and verdict["raw_score"] >= verdict["baseline_score"], (name, verdict)


def test_metrics_stream_train_loss_and_dev_accuracy(trained):  # noqa: F811
    rows = metrics_rows(trained["reverse"].workdir)
    train = [r for r in rows if "train_loss" in r]
    dev = [r for r in rows if "dev_accuracy" in r]
    assert train and dev and set(train[0]) == {"step", "train_loss", "lr", "tokens"}
    assert train[-1]["train_loss"] < train[0]["train_loss"] and "dev_n" in dev[0]


def test_dev_eval_job_scores_a_model(trained, prepared, tmp_path):  # noqa: F811
    p = prepared["reverse"]
    job = dev_eval_job(p, trained["reverse"].workdir / "final_model", limit=64)
    proc = run_plain(job, tmp_path)
    assert proc.returncode == 0, proc.stderr
    import json

    result = json.loads((tmp_path / "dev_eval.json").read_text())
    assert result["n"] == 64 and result["accuracy"] > 0.3


def test_a_broken_checkpoint_stops_with_status_nan(prepared, tmp_path):  # noqa: F811
    import dataclasses
    import shutil

    import torch

    from tasks import recipe_job

    p = prepared["reverse"]
    broken = tmp_path / "broken"
    shutil.copytree(p.base_model_dir, broken)
    state = torch.load(broken / "model.pt", weights_only=True)
    state["blocks.0.fc1.weight"][0, 0] = float("inf")
    torch.save(state, broken / "model.pt")
    job = recipe_job(dataclasses.replace(p, base_model_dir=broken), {"steps": 50}, wall_seconds=20)
    proc = run_plain(job, tmp_path / "job")
    assert proc.returncode == 3 and "status: nan" in proc.stdout and "stopped: nan" in proc.stdout
