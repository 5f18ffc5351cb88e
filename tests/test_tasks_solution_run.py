"""`synthteam solution run` as a new user meets it: write the starter, edit train.py, run it, get the
harness's dev score; and broken solutions end with one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_tasks_support import prepared, task_cache  # noqa: F401

pytestmark = pytest.mark.slow  # one CPU token: pinned to one core in a parallel run, where it passes as well


def _cli(*args, cwd: Path):
    return subprocess.run([sys.executable, "-m", "team.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_starter_edit_run_gives_the_harness_score(prepared, tmp_path):  # noqa: F811
    assert _cli("task", "starter", "reverse", "sol", cwd=tmp_path).returncode == 0
    train = tmp_path / "sol" / "train.py"
    text = train.read_text().replace("STEPS = 2000", "STEPS = 150").replace("LR = 0.001", "LR = 0.003")
    train.write_text(text.replace('print("\\n".join(', 'print("edited by hand")\n    print("\\n".join('))
    proc = _cli("solution", "run", "sol", "--task", "reverse", "--seconds", "60", "--json", "--out", "out",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["status"] == "ok" and row["dev_n"] == 256 and 0.0 <= row["harness_dev"] <= 1.0
    assert row["reported_dev"] is not None and isinstance(row["flags"], list)
    assert Path(row["final_model"]) == tmp_path / "out" / "final_model" and (tmp_path / "out" / "final_model").is_dir()
    assert "edited by hand" in (tmp_path / "out" / "stdout.log").read_text()
    assert json.loads((tmp_path / "out" / "outcome.json").read_text())["harness_dev"] == row["harness_dev"]
    again = _cli("solution", "run", "sol", "--task", "reverse", "--out", "out", cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr and again.stderr.count("\n") == 1


@pytest.mark.parametrize("program, expected", [
    ("import sys\nprint('dev_accuracy: 1.0')\nsys.exit(1 / 0)\n", "failed: exit code 1; ZeroDivisionError"),
    ("print('status: ok')\nprint('dev_accuracy: 0.99')\n", "no_model: the job left no usable final_model/"),
])
def test_a_broken_solution_is_one_line_and_exit_2(prepared, tmp_path, program, expected):  # noqa: F811
    (tmp_path / "sol").mkdir()
    (tmp_path / "sol" / "train.py").write_text(program)
    proc = _cli("solution", "run", "sol", "--task", "reverse", "--seconds", "30", "--json", "--out", "out",
                cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    row = json.loads(proc.stdout)
    assert row["harness_dev"] is None and row["final_model"] is None and "Traceback" not in proc.stderr
