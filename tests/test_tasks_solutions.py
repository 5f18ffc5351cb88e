"""Solutions as programs, without training: digests, diffs and the strict patch applier, constants,
loading and writing, the starter, and the CLI's bad-input lines."""

from __future__ import annotations

import ast
import gc
import json
import subprocess
import sys
import traceback

import pytest

from sandbox.errors import ConfigError
from tasks import load_task
from tasks.solutions import (
    PatchError,
    Solution,
    apply_patch,
    constants,
    load_solution,
    parse_python,
    set_constants,
    starter,
    write_solution,
)

PARENT = Solution({"train.py": "A = 1\nB = 'x'\n\ndef f():\n    return A\n", "notes.txt": "one\ntwo\nthree"})


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "team.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_digest_is_over_sorted_paths_and_contents():
    same = Solution({"notes.txt": PARENT.files["notes.txt"], "train.py": PARENT.files["train.py"]})
    assert same.digest == PARENT.digest and same == PARENT and len({same, PARENT}) == 1
    assert Solution({**PARENT.files, "notes.txt": "one\ntwo\nthree\n"}).digest != PARENT.digest
    with pytest.raises(TypeError):
        PARENT.files["train.py"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        PARENT.files = {}  # type: ignore[misc]


def test_a_diff_applies_back_onto_its_parent_even_when_lines_moved():
    child = Solution({"train.py": PARENT.files["train.py"].replace("return A", "return A + 1"),
                      "notes.txt": "one\n2\nthree", "data/extra.json": "{}\n"})
    diff = child.diff(PARENT)
    assert "--- a/train.py" in diff and "+++ b/data/extra.json" in diff and "No newline" in diff
    assert apply_patch(PARENT, {"diff": diff}) == child
    shifted = Solution({**PARENT.files, "train.py": "# a comment on top\n" + PARENT.files["train.py"]})
    assert "# a comment on top" in apply_patch(shifted, {"diff": diff}).files["train.py"]
    assert apply_patch(child, {"diff": PARENT.diff(child)}) == PARENT  # and back, deleting extra.json


def _reference_diff(a: str, b: str) -> str:
    """The slow way: split both whole files, cut the lines they share at each end (keeping 3 of context),
    difflib the rest, move the hunk headers back to the files' line numbers."""
    import difflib
    import re

    x, y = a.splitlines(keepends=True), b.splitlines(keepends=True)
    for lines in (x, y):
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n\\ No newline at end of file\n"
    head = 0
    while head < min(len(x), len(y)) and x[head] == y[head]:
        head += 1
    tail = 0
    while tail < min(len(x), len(y)) - head and x[-1 - tail] == y[-1 - tail]:
        tail += 1
    start, cut = max(head - 3, 0), max(tail - 3, 0)
    out = difflib.unified_diff(x[start:len(x) - cut], y[start:len(y) - cut], "a/train.py", "b/train.py", n=3)
    move = lambda m: f"{m.group(1)}{int(m.group(2)) + start}"  # noqa: E731
    return "".join(re.sub(r"([-+])(\d+)", move, line, count=2) if line.startswith("@@") else line for line in out)


def test_the_diff_matches_only_the_lines_around_a_change_and_still_applies_back():
    """Solution.diff finds the shared ends by comparing characters and splits only the lines around the
    change: the same diff as splitting the whole files, for edits anywhere, repeated lines, missing last
    newlines; and it applies back, both ways."""
    import random

    rng = random.Random(7)
    pool = ["x = 1\n", "\n", "# note\n", "return x\n", "y = 2\n"]
    for _ in range(3000):
        old = [rng.choice(pool) if rng.random() < 0.5 else f"line {rng.randint(0, 40)}\n" for _ in range(rng.randint(1, 50))]
        new = list(old)
        for _ in range(rng.randint(1, 4)):
            i = rng.randint(0, len(new))
            pick = rng.random()
            if pick < 0.3 and new:
                new.pop(min(i, len(new) - 1))
            elif pick < 0.6:
                new.insert(i, rng.choice(pool))
            elif new:
                new[min(i, len(new) - 1)] = f"changed {rng.randint(0, 9)}\n"
        a, b = "".join(old), "".join(new)
        a, b = (a.rstrip("\n") if rng.random() < 0.2 else a), (b.rstrip("\n") if rng.random() < 0.3 else b)
        if a == b:
            continue
        parent, child = Solution({"train.py": a}), Solution({"train.py": b})
        diff = child.diff(parent)
        assert diff == _reference_diff(a, b), (a, b)
        assert apply_patch(parent, {"diff": diff}) == child and apply_patch(child, {"diff": parent.diff(child)}) == parent


def test_a_hunk_that_does_not_apply_names_file_and_hunk():
    diff = Solution({**PARENT.files, "train.py": PARENT.files["train.py"].replace("A = 1", "A = 2")}).diff(PARENT)
    edited = Solution({**PARENT.files, "train.py": PARENT.files["train.py"].replace("B = 'x'", "B = 'y'")})
    with pytest.raises(PatchError, match=r"train.py: hunk 1 \(@@ -1,4 \+1,4 @@\) does not apply") as err:
        apply_patch(edited, {"diff": diff})
    assert len(str(err.value).splitlines()) == 1 and isinstance(err.value, ConfigError)
    with pytest.raises(PatchError, match="no such file"):
        apply_patch(PARENT, {"diff": diff.replace("train.py", "other.py")})


@pytest.mark.parametrize("patch, message", [
    ({"files": {"../escape.py": "x"}}, "stay inside"),
    ({"files": {"/etc/passwd": "x"}}, "stay inside"),
    ({"files": {"train.py": None}}, "cannot be deleted"),
    ({"files": {"missing.py": None}}, "cannot delete a file"),
    ({"files": {"train.py": 3}}, "text or null"),
    ({"code": "x"}, "expected"),
    ({"diff": "just words"}, "no '--- a/FILE'"),
])
def test_bad_patches_are_one_line_errors(patch, message):
    with pytest.raises(PatchError, match=message):
        apply_patch(PARENT, patch)


def test_whole_files_then_a_diff_in_one_patch():
    new = apply_patch(PARENT, {"files": {"notes.txt": None, "util.py": "X = 1\n"},
                               "diff": "--- a/util.py\n+++ b/util.py\n@@ -1 +1 @@\n-X = 1\n+X = 2\n"})
    assert set(new.files) == {"train.py", "util.py"} and new.files["util.py"] == "X = 2\n"


def test_set_constants_edits_only_the_constants_and_names_the_allowed_ones():
    new = set_constants(PARENT, {"a": 5, "B": "two words"})
    assert constants(new) == {"A": 5, "B": "two words"}
    assert new.files["train.py"].endswith("def f():\n    return A\n")
    with pytest.raises(ValueError, match=r"unknown constant\(s\) 'lr': train.py has A, B"):
        set_constants(PARENT, {"lr": 0.1})


def test_the_starter_is_the_knob_defaults_not_the_reference():
    task = load_task("reverse")
    sol = starter(task)
    values = constants(sol)
    assert {k.lower(): v for k, v in values.items() if k.lower() in task.knobs} == task.defaults()
    assert values["LR"] != task.reference["lr"] and set(sol.files) == {"train.py"}
    assert set_constants(sol, task.defaults()) == sol  # writing the defaults again changes nothing


def test_load_and_write_round_trip_and_refusals(tmp_path):
    write_solution(PARENT, tmp_path / "sol")
    (tmp_path / "sol" / "__pycache__").mkdir()
    (tmp_path / "sol" / "__pycache__" / "x.pyc").write_bytes(b"\x00")
    (tmp_path / "sol" / "final_model").mkdir()
    (tmp_path / "sol" / "final_model" / "model.pt").write_bytes(b"\x00\x01")
    assert load_solution(tmp_path / "sol") == PARENT
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty:1: no train.py"):
        load_solution(tmp_path / "empty")
    (tmp_path / "sol" / "blob.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_solution(tmp_path / "sol")


def test_cli_starter_writes_once_and_refuses_a_non_empty_dir(tmp_path):
    first = _cli("task", "starter", "reverse", "sol", cwd=tmp_path)
    assert first.returncode == 0 and (tmp_path / "sol" / "train.py").is_file(), first.stderr
    again = _cli("task", "starter", "reverse", "sol", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.strip().count("\n") == 0 and "not empty" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize("setup, message", [
    (lambda d: d.mkdir(), "no train.py"),
    (lambda d: None, "not a directory"),
])
def test_cli_solution_run_bad_input_is_one_line_exit_2(tmp_path, setup, message):
    setup(tmp_path / "sol")
    proc = _cli("solution", "run", "sol", "--task", "reverse", cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.strip().count("\n") == 0
    unknown = _cli("solution", "run", str(tmp_path), "--task", "nosuch", cwd=tmp_path)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_prepare_json_names_the_sealed_test_and_the_visible_folder(task_cache):  # noqa: F811
    row = json.loads(_cli("task", "prepare", "reverse", "--json").stdout)
    assert row["sealed_test"].endswith("test.jsonl") and "/sealed/" in row["sealed_test"]
    assert sorted(p.name for p in __import__("pathlib").Path(row["visible"]).iterdir()) == [
        "dev.jsonl", "evaluate.py", "task.json", "train.jsonl"]
    assert row["read_paths"] == [row["base_model"], row["visible"]]


from tests.test_tasks_support import task_cache  # noqa: E402,F401


def test_an_ok_job_never_evaluated_is_unscored_not_a_lie(tmp_path):
    """A job the harness had no budget left to evaluate is flagged `unscored`; only a job whose printed dev
    differs from the harness's (or that printed one and left no model) is flagged reported_dev_differs."""
    import torch

    from sandbox.jobs import JobResult, JobStatus
    from tasks.jobs import solution_outcome

    def job(workdir, model: bool) -> JobResult:
        if model:
            (workdir / "final_model").mkdir(parents=True)
            (workdir / "final_model" / "config.json").write_text("{}")
            torch.save({"w": torch.zeros(1)}, workdir / "final_model" / "model.pt")
        return JobResult("j1", JobStatus.OK, 0, (), workdir, 1.0, 1.0, None, "dev_accuracy: 0.9\n", "")

    (tmp_path / "a").mkdir()
    kept = solution_outcome(job(tmp_path / "a", True), None)
    assert [f["flag"] for f in kept.flags] == ["unscored"] and kept.harness_dev is None
    (tmp_path / "b").mkdir()
    empty = solution_outcome(job(tmp_path / "b", False), None)
    assert empty.status == "no_model" and [f["flag"] for f in empty.flags] == ["reported_dev_differs"]


class _ClosedTransport:
    """Cyclic garbage whose finalizer raises, like an asyncio transport collected after its loop closed."""

    def __del__(self):
        raise RuntimeError("Event loop is closed")


@pytest.mark.parametrize("parse, fails", [(ast.parse, True), (parse_python, False)])
def test_a_parse_survives_a_traceback_formatted_by_a_finalizer_mid_parse(monkeypatch, parse, fails):
    # pytest's unraisable hook formats the finalizer's traceback; on 3.11 that runs ast.parse for the caret
    # anchors in the middle of ours, which reset CPython's shared depth counter (the CI failure of stop 25).
    monkeypatch.setattr(sys, "unraisablehook",
                        lambda u: traceback.format_exception(u.exc_type, u.exc_value, u.exc_traceback))
    text = starter(load_task("reverse")).files["train.py"]
    threshold = gc.get_threshold()
    gc.set_threshold(50)
    errors = 0
    try:
        for _ in range(20):
            for _ in range(50):
                junk = _ClosedTransport()
                junk.cycle = junk
            del junk
            try:
                parse(text)
            except SystemError:
                errors += 1
    finally:
        gc.set_threshold(*threshold)
        gc.collect()
    if fails and errors == 0:
        pytest.skip("this interpreter counts AST depth per thread (fixed after 3.11.7): nothing to race")
    assert (errors > 0) == fails
