"""Task files: built-in tasks load, knobs validate, bad task.yaml files give FILE:LINE errors."""

from __future__ import annotations

import random
import shutil

import pytest

from sandbox.errors import ConfigError
from tasks import BUILTIN_TASKS, Knob, list_tasks, load_task
from tasks.spec import BUILTIN_DIR
from tests.test_tasks_support import prepared, task_cache  # noqa: F401

RECIPE_KNOBS = {"lr", "schedule", "warmup_frac", "steps", "batch_size", "weight_decay", "method", "lora_rank",
                "freeze_layers", "n_train", "hard_frac", "replay_frac", "seed"}


def test_builtin_tasks_load_with_all_recipe_knobs():
    tasks = list_tasks()
    assert [t.name for t in tasks] == list(BUILTIN_TASKS) and tasks[0].name == "reverse"
    for task in tasks:
        # arith-hf's and arith-hard's pools mark no row hard: there hard_frac would do nothing, so they lack it
        assert set(task.knobs) == RECIPE_KNOBS - ({"hard_frac"} if task.name.startswith("arith-") else set())
        assert task.knobs["lora_rank"].when == (("method", ("lora",)),)
        assert task.validate_config(task.reference) == dict(task.reference)
        assert len(task.digest) == 64 and task.rules
        # the toy tasks: the built-in char model, scored by their evaluate.py; arith-hf, arith-hard: an hf model,
        # scored by Inspect
        expected = ("hf", "inspect") if task.name.startswith("arith-") else ("tiny", "home")
        assert (task.kind, task.evaluator) == expected


def test_knobs_sample_within_range_and_reject_bad_values():
    lr = Knob("lr", "float", 1e-4, 1e-1, log=True, default=1e-3)
    rng = random.Random(0)
    assert all(1e-4 <= lr.sample(rng) <= 1e-1 for _ in range(200))
    method = Knob("method", "choice", choices=("full", "lora"), default="full")
    assert method.sample(rng) in ("full", "lora")
    for knob, bad in [(lr, 2.0), (lr, "fast"), (method, "qlora"), (Knob("steps", "int", 1, 10, default=2), 2.5)]:
        with pytest.raises(ValueError):
            knob.validate(bad)
    assert Knob("steps", "int", 1, 10, default=2).validate(3) == 3


def test_validate_config_lists_every_bad_key():
    task = load_task("reverse")
    with pytest.raises(ConfigError) as err:
        task.validate_config({"lr": 5.0, "learning_rate": 0.1, "method": "qlora"})
    text = "\n".join(err.value.problems)
    assert len(err.value.problems) == 3 and "learning_rate" in text and "qlora" in text


def _copy_task(tmp_path, text_edit):
    root = tmp_path / "t"
    shutil.copytree(BUILTIN_DIR / "reverse", root)
    path = root / "task.yaml"
    path.write_text(text_edit(path.read_text()))
    return root, path


def _line_of(path, needle):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_unknown_key_and_bad_knob_reported_with_file_and_line(tmp_path):
    root, path = _copy_task(tmp_path, lambda t: t.replace("device: cpu", "device: cpu\ncolour: blue").replace(
        "lora_rank: {kind: int, low: 1, high: 64", "lora_rank: {kind: int, low: 100, high: 64"))
    with pytest.raises(ConfigError) as err:
        load_task(root)
    lines = err.value.problems
    assert f"{path}:{_line_of(path, 'colour')}: top level: unknown key 'colour'" in lines
    assert any(line.startswith(f"{path}:{_line_of(path, 'lora_rank:')}:") for line in lines)


def test_reference_outside_a_knob_range_is_an_error(tmp_path):
    root, path = _copy_task(tmp_path, lambda t: t.replace("reference: {lr: 3.0e-3", "reference: {lr: 7.0"))
    with pytest.raises(ConfigError) as err:
        load_task(root)
    assert err.value.problems[0].startswith(f"{path}:{_line_of(path, 'reference:')}: reference.lr")


def test_missing_files_and_unknown_names(tmp_path):
    root, _ = _copy_task(tmp_path, lambda t: t)
    (root / "evaluate.py").unlink()
    with pytest.raises(ConfigError) as err:
        load_task(root)
    assert err.value.problems == [f"{root}/evaluate.py:1: missing (every task folder needs it)"]
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        load_task("nope")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty.yaml:1: the file is empty"):
        load_task(tmp_path / "empty.yaml")


def test_recipe_job_is_a_sandbox_job_that_never_reads_the_test_split(prepared):  # noqa: F811
    from tasks import recipe_job

    p = prepared["reverse"]
    job = recipe_job(p, {"lr": 0.002}, wall_seconds=30, cpu_threads=1, metadata={"agent": "e1"})
    assert job.command[1:3] == ("-m", "tasks.recipe") and '"lr": 0.002' in job.files["config.json"]
    assert job.limits.wall_seconds == 30 and job.read_paths == p.read_paths and job.metadata["agent"] == "e1"
    assert not any(p.test_path.parent == r or r in p.test_path.parents for r in job.read_paths)
    with pytest.raises(ConfigError):
        recipe_job(p, {"learning_rate": 1.0}, wall_seconds=30)


@pytest.mark.parametrize("body, where, what", [
    ('def generate(rng, hard):\n    w = rng.choice("ab")\n    return {"prompt": f"r {w} =", "answer": w}\n', ":1: ",
     "cannot produce 256 distinct dev items"),
    ("def generate(rng, hard):\n    return {'prompt': 1 / 0}\n", ":2: ", "ZeroDivisionError"),
    ("def generate(rng, hard)\n    pass\n", ":1: ", "SyntaxError"),
])
def test_a_broken_data_py_is_one_line_with_file_and_line(tmp_path, capsys, task_cache, body, where, what):  # noqa: F811
    import shutil

    from team.cli import main

    task = tmp_path / "mytask"
    shutil.copytree(BUILTIN_DIR / "reverse", task)
    (task / "task.yaml").write_text((task / "task.yaml").read_text().replace("name: reverse", "name: mytask"))
    (task / "data.py").write_text(body)
    assert main(["task", "prepare", str(task), "--cache-dir", str(task_cache)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(str(task / "data.py") + where) and what in err[0], err


def test_a_when_condition_names_a_knob_and_its_values_or_is_reported_at_its_line(tmp_path):
    gated = "lora_rank: {kind: int, low: 1, high: 64, log: true, default: 8, when: {method: lora}"
    root, path = _copy_task(tmp_path, lambda t: t)
    assert gated in path.read_text() and load_task(root).knobs["lora_rank"].when == (("method", ("lora",)),)
    for i, (when, says) in enumerate([("{methd: lora}", "methd: not a knob of this task"),
                                      ("{method: [lora, qlora]}", "method: 'qlora' is not one of ['full', 'lora']"),
                                      ("{lora_rank: 8}", "lora_rank: a knob cannot depend on itself")]):
        root, path = _copy_task(tmp_path / str(i), lambda t, w=when: t.replace("when: {method: lora}", f"when: {w}"))
        with pytest.raises(ConfigError) as err:
            load_task(root)
        assert err.value.problems == [f"{path}:{_line_of(path, 'lora_rank:')}: knobs.lora_rank.when.{says}"]
    root, path = _copy_task(tmp_path / "chain", lambda t: t.replace(
        'method: {kind: choice, choices: [full, lora], default: full,', 'method: {kind: choice, choices: [full, lora], '
        'default: full, when: {schedule: cosine},'))
    with pytest.raises(ConfigError) as err:
        load_task(root)
    assert "knobs.lora_rank.when.method: method has a when: of its own" in err.value.problems[0]


def test_the_public_card_carries_a_knobs_when():
    from tasks.visible import card_knobs, task_card

    card = task_card(load_task("reverse"), [])
    assert card["knobs"]["lora_rank"]["when"] == {"method": ["lora"]} and "when" not in card["knobs"]["lr"]
    knobs = card_knobs(card)
    assert knobs["lora_rank"] == load_task("reverse").knobs["lora_rank"]
