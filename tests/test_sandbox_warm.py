"""Warm jobs (sandbox.warm, sandbox.zygote, sandbox.warmjob): a job forked from a worker with torch imported
behaves as a fresh interpreter would, and sees nothing of the jobs before it.

The sandbox's attack and limit tests run on warm executors too (the "warm" kind in tests/conftest_sandbox.py).
"""

from __future__ import annotations

import os
import signal

import pytest

from sandbox.warmjob import warm_command
from tests.conftest_sandbox import HAS_BWRAP, make_local, py_job, read_json

pytestmark = pytest.mark.skipif(not HAS_BWRAP or os.geteuid() != 0,
                                reason="warm workers need bubblewrap's sandbox and root (they build the namespaces)")

SNOOP = """
    import json, os, sys
    import torch

    def init():
        try:  # PID 1 is a fork of the worker: its memory holds what the worker held, its fd 2 was the host's log
            os.listdir("/proc/1/fd")
            open("/proc/1/mem", "rb").close()
            return "readable"
        except OSError:
            return "denied"

    out = {"torch_loaded": "torch" in sys.modules, "marker": getattr(torch, "_left_by_a_job", None),
           "tmp": sorted(os.listdir("/tmp")), "shm": sorted(os.listdir("/dev/shm")),
           "siblings": sorted(os.listdir(os.path.dirname(os.getcwd()))), "pid": os.getpid(),
           "rand": __import__("random").random(), "torch_rand": torch.rand(1).item(),
           "cap_eff": open("/proc/self/status").read().split("CapEff:")[1].split()[0], "init": init()}
    json.dump(out, open("out.json", "w"))
    torch._left_by_a_job = "secret"
    open("/tmp/left", "w").write("secret")
    open("/dev/shm/left", "w").write("secret")
    open("mine.txt", "w").write("secret")
"""


def _in_memory(pid: int, pattern: bytes) -> bool:
    """Whether a process's writable memory holds `pattern` (read as root through /proc/PID/mem)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
        for row in (line.split() for line in maps):
            if "rw" not in row[1] or (len(row) > 5 and row[5] in ("[vvar]", "[vsyscall]", "[vdso]")):
                continue
            start, end = (int(x, 16) for x in row[0].split("-"))
            try:
                mem.seek(start)
                if pattern in mem.read(end - start):
                    return True
            except (OSError, OverflowError, ValueError):
                continue
    return False


async def test_a_warm_job_sees_nothing_of_the_job_before_it(tmp_path):
    executor = make_local("warm", tmp_path / "runs")
    first = await executor.wait(await executor.submit(py_job(SNOOP, env={"JOB_NOTE": "note-of-the-first-job"})))
    worker = executor.warm._zygote.proc.pid
    assert not _in_memory(worker, b"note-of-the-first-job"), "the worker, whose memory every job inherits, " \
        "held a job's environment"
    second = await executor.wait(await executor.submit(py_job(SNOOP)))
    await executor.close()
    a, b = read_json(first), read_json(second)
    assert "warm start" in first.enforcement and "warm start" in second.enforcement
    assert a["torch_loaded"] and b["torch_loaded"]
    assert b["marker"] is None, "a module global set by the previous job leaked"
    assert "left" not in b["tmp"] and b["shm"] == [], "the previous job's /tmp or /dev/shm leaked"
    assert b["siblings"] == [second.workdir.name], "another job's work dir is visible"
    assert b["pid"] == 2 and b["cap_eff"] == "0000000000000000"
    assert b["init"] == "denied", "the job read its namespace's init (a fork of the worker) through /proc/1"
    assert a["rand"] != b["rand"] and a["torch_rand"] != b["torch_rand"], "forks share the zygote's random state"


@pytest.mark.parametrize(("code", "status", "exit_code", "says"), [
    ("import sys; sys.exit(3)", "failed", 3, ""),
    ("raise ValueError('boom')", "failed", 1, "ValueError: boom"),
    ("import sys; sys.exit('bad input')", "failed", 1, "bad input"),
    ("print('fine')", "ok", 0, ""),
])
async def test_a_warm_job_ends_as_python_would(tmp_path, code, status, exit_code, says):
    executor = make_local("warm", tmp_path / "runs")
    result = await executor.wait(await executor.submit(py_job(code)))
    await executor.close()
    assert "warm start" in result.enforcement
    assert (result.status.value, result.exit_code) == (status, exit_code), result.stderr_tail
    assert says in result.stderr_tail


async def test_argv_module_and_script_paths_are_those_of_a_fresh_interpreter(tmp_path):
    executor = make_local("warm", tmp_path / "runs")
    script = py_job("import json, sys; json.dump(sys.argv, open('out.json', 'w'))",)
    script = script.__class__(("python", "job.py", "--x", "1"), files=script.files, limits=script.limits)
    module = script.__class__(("python", "-m", "json.tool", "--help"), limits=script.limits)
    ran = await executor.wait(await executor.submit(script))
    helped = await executor.wait(await executor.submit(module))
    await executor.close()
    assert read_json(ran) == ["job.py", "--x", "1"]
    assert helped.status.value == "ok" and "usage" in helped.stdout_tail and "warm start" in helped.enforcement


async def test_the_worker_is_recycled_and_a_dead_one_replaced(tmp_path):
    executor = make_local("warm", tmp_path / "runs")
    executor.warm.recycle = 2
    results = [await executor.wait(await executor.submit(py_job("print('hi')"))) for _ in range(3)]
    assert [r.status.value for r in results] == ["ok"] * 3 and executor.warm.started == 2
    os.kill(executor.warm._zygote.proc.pid, signal.SIGKILL)
    await executor.warm._zygote.proc.wait()
    after = await executor.wait(await executor.submit(py_job("print('still')")))
    await executor.close()
    assert after.status.value == "ok" and "still" in after.stdout_tail and executor.warm.started == 3


def test_only_plain_python_commands_start_warm():
    assert warm_command(("python", "train.py")) and warm_command(("python", "-m", "tasks.recipe", "--x"))
    assert warm_command(("python3", "-c", "print(1)"))
    assert not warm_command(("bash", "-c", "true")) and not warm_command(("python", "-u", "x.py"))
    assert not warm_command(("python",)) and not warm_command(("python", "-m"))


async def test_by_default_jobs_start_cold_until_the_worker_is_up(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNTHTEAM_WARM", raising=False)
    executor = make_local("bwrap", tmp_path / "runs", warm=None)
    first = await executor.wait(await executor.submit(py_job("print(1)")))
    assert "warm start" not in first.enforcement  # one job alone never pays for a worker
    for _ in range(50):
        result = await executor.wait(await executor.submit(py_job("print(2)")))
        if "warm start" in result.enforcement:
            break
    await executor.close()
    assert "warm start" in result.enforcement
    monkeypatch.setenv("SYNTHTEAM_WARM", "0")
    assert make_local("bwrap", tmp_path / "off", warm=None).warm is None
