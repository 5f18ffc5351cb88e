"""`synthteam job run` as a researcher runs it: a real subprocess, the job's output, the summary, and
an exit code that reflects the status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SYNTHTEAM = Path(sys.executable).parent / "synthteam"


def job_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([str(SYNTHTEAM), "job", "run", "--root", str(tmp_path / "runs"), *args],
                          capture_output=True, text=True, timeout=120, env=env)


def summary(out: str) -> dict[str, str]:
    tail = out.split("---- job summary ----", 1)[1]
    return dict(line.split(": ", 1) for line in tail.strip().splitlines())


def test_ok_job_streams_output_and_prints_a_summary(tmp_path):
    proc = job_run(tmp_path, "--timeout", "30s", "--memory", "1G", "--", "python", "-c",
                   "import os; print('threads', os.environ['OMP_NUM_THREADS']); open('artifact.txt', 'w')")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("threads 1\n")
    info = summary(proc.stdout)
    assert info["status"] == "ok" and info["exit_code"] == "0" and info["isolation"] in ("bwrap", "none")
    assert (Path(info["workdir"]) / "artifact.txt").exists()


@pytest.mark.parametrize("flags, code, status", [
    (["--timeout", "1s", "--", "sleep", "30"], 124, "timeout"),
    (["--", "sh", "-c", "exit 4"], 1, "failed"),
    (["--memory", "100M", "--", "python", "-c", "b = [bytearray(1 << 24) for _ in range(64)]"], 137, "oom"),
])
def test_exit_code_reflects_the_status(tmp_path, flags, code, status):
    proc = job_run(tmp_path, *flags)
    assert proc.returncode == code and summary(proc.stdout)["status"] == status


@pytest.mark.parametrize("flags, message", [
    (["--timeout", "soon", "--", "true"], "--timeout: not a number"),
    (["--memory", "2X", "--", "true"], "--memory: unknown size unit 'x'"),
    ([], "job run: give the command after --"),
])
def test_bad_flags_exit_2_with_one_clear_line(tmp_path, flags, message):
    proc = job_run(tmp_path, *flags)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr and not (tmp_path / "runs").exists()


def test_reduced_isolation_is_printed(tmp_path):
    proc = job_run(tmp_path, "--isolation", "none", "--", "true")
    assert proc.returncode == 0 and "WITHOUT isolation" in proc.stderr


def test_task_view_is_read_only_paths_of_the_task(tmp_path):
    tasks = pytest.importorskip("tasks")
    if not hasattr(tasks, "prepare_task"):
        pytest.skip("tasks.prepare_task is not built yet")
    names = [p.name for p in (Path(tasks.__file__).parent / "builtin").iterdir() if p.is_dir()]
    if not names:
        pytest.skip("no built-in task")
    probe = "import os, sys; print('ok' if os.path.exists(sys.argv[1]) else 'hidden')"
    prepared = tasks.prepare_task(tasks.load_task(names[0]))
    first = str(prepared.read_paths[0])
    proc = job_run(tmp_path, "--task", names[0], "--", "python", "-c", probe, first)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr
