"""Code operators change what the program does: each operator's train.py, run for 20 steps on the
reverse task (step-bound, so runs of the same seed are comparable), shows its effect in the metrics, the
printed lines or the weights it saves; and operators refuse targets that are missing, edited or taken."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from roles.operators import OPERATORS, OperatorError, applied_operators, apply_operator, operator_names
from tasks.solutions import Solution, constants, set_constants, starter, write_solution
from tests.test_tasks_support import prepared, task_cache  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
TINY = {"steps": 20, "n_train": 2000, "EVALS": 2, "DEV_LIMIT": 16, "LOG_EVERY": 1}
SHORT = {"checkpoint_average": {"AVERAGE_EVERY": 1}}  # enough checkpoints to average in 20 steps


def _run(solution: Solution, p, workdir: Path) -> dict:
    write_solution(solution, workdir)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNTHTEAM_VISIBLE": str(p.visible_dir),
           "SYNTHTEAM_BASE_MODEL": str(p.base_model_dir), "SYNTHTEAM_WALL_SECONDS": "300",
           "SYNTHTEAM_METRICS": str(workdir / "metrics.jsonl"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "train.py"], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    weights = torch.load(workdir / "final_model" / "model.pt", weights_only=True)
    return {"stdout": proc.stdout, "rows": rows, "weights": weights}


def _rows(run: dict, key: str) -> list:
    return [r for r in run["rows"] if key in r]


def _same_weights(a: dict, b: dict) -> bool:
    return all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])


@pytest.fixture(scope="module")
def base(prepared):  # noqa: F811
    return set_constants(starter(prepared["reverse"].task), TINY)


@pytest.fixture(scope="module")
def runs(base, prepared, tmp_path_factory):  # noqa: F811
    """The tiny starter and each operator applied to it, run once each."""
    from concurrent.futures import ThreadPoolExecutor

    root, p = tmp_path_factory.mktemp("ops"), prepared["reverse"]
    programs = {"starter": base}
    for name in OPERATORS:
        solution, _ = apply_operator(name, base, random.Random(0))
        programs[name] = set_constants(solution, SHORT.get(name, {}))
    with ThreadPoolExecutor(max_workers=2) as pool:  # one thread each (OMP_NUM_THREADS=1): both cores busy
        done = {name: pool.submit(_run, program, p, root / name) for name, program in programs.items()}
        return {"constants": constants(base), **{name: future.result() for name, future in done.items()}}


pytestmark = pytest.mark.slow


def test_there_are_at_least_eight_code_operators():
    assert len(operator_names("code")) >= 8 and operator_names("constants") == ["tune"]


def test_curriculum_starts_with_the_shortest_rows(runs):
    shares = [r["curriculum_share"] for r in _rows(runs["curriculum"], "curriculum_share")]
    assert shares and shares[0] < 0.5 and shares == sorted(shares)
    first = lambda run: _rows(run, "tokens")[0]["tokens"]  # noqa: E731 - tokens of the first batch
    assert first(runs["curriculum"]) < first(runs["starter"])


def test_length_buckets_cut_the_padding(runs):
    assert _rows(runs["length_buckets"], "tokens")[-1]["tokens"] < 0.9 * _rows(runs["starter"], "tokens")[-1]["tokens"]


def test_answer_weighting_changes_the_loss_of_the_same_batch(runs):
    ours, theirs = _rows(runs["answer_weighting"], "train_loss")[0], _rows(runs["starter"], "train_loss")[0]
    assert ours["tokens"] == theirs["tokens"] and ours["train_loss"] != theirs["train_loss"]


@pytest.mark.parametrize("name, row", [("ema", "ema_started"), ("checkpoint_average", "checkpoints_averaged")])
def test_averaging_operators_keep_other_weights(runs, name, row):
    assert _rows(runs[name], row) and not _same_weights(runs[name], runs["starter"])


def test_holdout_best_selects_on_held_out_pool_items(runs):
    assert _rows(runs["holdout_best"], "holdout_accuracy") and not _rows(runs["holdout_best"], "dev_accuracy")
    assert "holdout_accuracy:" in runs["holdout_best"]["stdout"] and "dev_accuracy:" in runs["holdout_best"]["stdout"]


def test_more_data_trains_on_the_whole_pool(runs, prepared):  # noqa: F811
    pool = sum(1 for _ in prepared["reverse"].train_path.open())
    assert f"train_items: {pool}" in runs["more_data"]["stdout"] and "train_items" not in runs["starter"]["stdout"]


def test_replay_adds_a_pre_training_loss(runs):
    assert _rows(runs["replay"], "replay_loss") and not _rows(runs["starter"], "replay_loss")


def test_warm_restarts_raise_the_learning_rate_again(runs):
    lrs = [r["lr"] for r in _rows(runs["warm_restarts"], "lr")]
    low = lrs.index(min(lrs[: len(lrs) // 2 + 1]))
    assert max(lrs[low:]) > 2 * lrs[low]
    starter_lrs = [r["lr"] for r in _rows(runs["starter"], "lr")]
    assert all(b <= a for a, b in zip(starter_lrs[5:], starter_lrs[6:], strict=False))  # cosine only decays


def test_wsd_holds_the_peak_rate_then_decays(runs):
    lrs = [r["lr"] for r in _rows(runs["wsd_schedule"], "lr")]
    peak = max(lrs)
    assert lrs[len(lrs) // 2] == peak and lrs[-1] < 0.5 * peak
    starter_lrs = [r["lr"] for r in _rows(runs["starter"], "lr")]
    assert starter_lrs[len(starter_lrs) // 2] < 0.9 * max(starter_lrs)


def test_batch_ramp_starts_with_small_batches(runs):
    sizes = [r["batch_size"] for r in _rows(runs["batch_ramp"], "batch_size")]
    assert sizes[0] < sizes[-1] == constants_of(runs)["BATCH_SIZE"]
    assert _rows(runs["batch_ramp"], "tokens")[0]["tokens"] < _rows(runs["starter"], "tokens")[0]["tokens"]


def constants_of(runs) -> dict:
    return runs["constants"]


def test_tune_changes_constants_only_and_the_run_with_them(runs, base):
    tuned, note = apply_operator("tune", base, random.Random(0))
    added = [line[1:] for line in tuned.diff(base).splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert 1 <= len(added) <= 2 and all(re.match(r"^[A-Z_]+ = \S+$", line) for line in added), added
    assert note.startswith("tune: ")
    assert constants(tuned) != constants(base) and not _same_weights(runs["tune"], runs["starter"])


def test_operators_refuse_missing_edited_and_taken_targets(base):
    ema, _ = apply_operator("ema", base, random.Random(0))
    with pytest.raises(OperatorError, match="ema: after_step\\(\\) was already applied"):
        apply_operator("ema", ema, random.Random(0))
    with pytest.raises(OperatorError, match="already changed by the ema operator"):
        apply_operator("checkpoint_average", ema, random.Random(0))
    edited = Solution({"train.py": base.files["train.py"].replace("return \"dev\", dev[:DEV_LIMIT]",
                                                                  "return \"dev\", dev[:64]")})
    with pytest.raises(OperatorError, match="selection_items\\(\\) is not the starter's any more"):
        apply_operator("holdout_best", edited, random.Random(0))
    gone = Solution({"train.py": base.files["train.py"].replace("def lr_at(", "def schedule_at(")})
    with pytest.raises(OperatorError, match="no top-level function lr_at\\(\\)"):
        apply_operator("warm_restarts", gone, random.Random(0))
    more, _ = apply_operator("more_data", base, random.Random(0))
    with pytest.raises(OperatorError, match="does not combine with more_data"):
        apply_operator("holdout_best", more, random.Random(0))


def test_operators_on_different_functions_compose(base):
    solution = base
    for name in ("curriculum", "answer_weighting", "ema", "holdout_best", "replay", "warm_restarts", "tune"):
        solution, _ = apply_operator(name, solution, random.Random(1))
    assert applied_operators(solution) == sorted(
        ["curriculum", "answer_weighting", "ema", "holdout_best", "replay", "warm_restarts"])
    compile(solution.files["train.py"], "train.py", "exec")
