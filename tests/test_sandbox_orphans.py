"""An orchestrator SIGKILLed mid-job leaves no job process and no cgroup folder behind: bubblewrap takes
the sandbox down with it, and the next executor to start removes whatever is left (a detached daemon
without isolation, the job's cgroup folders). Live executors' jobs are never touched."""
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from sandbox import cleanup_orphans
from sandbox.cgroups import cgroup_bases
from sandbox.process import marked_pids
from tests.conftest_sandbox import LOCAL_KINDS, make_local, py_job

ROOT = Path(__file__).resolve().parents[1]

JOB = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open("daemon_ready", "w").write("yes")
        while True:
            time.sleep(0.05)
    os._exit(0)
while not os.path.exists("daemon_ready"):
    time.sleep(0.01)
open("ready", "w").write("yes")
time.sleep(120)
"""

ORCHESTRATOR = """
import asyncio, sys, warnings
from pathlib import Path
from sandbox import DeviceSlots, Job, Limits, LocalExecutor

async def main(kind, root, job_py):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor = LocalExecutor(Path(root), DeviceSlots.declared(cpu_slots=1),
                                 isolation="bwrap" if kind == "warm" else kind, warm=kind == "warm")
    job = Job(("python", "job.py"), files={"job.py": Path(job_py).read_text()}, limits=Limits(wall_seconds=120))
    handle = await executor.submit(job)
    print(executor.owner, handle.job_id, flush=True)
    await executor.wait(handle)

asyncio.run(main(*sys.argv[1:]))
"""


def _start_orchestrator(kind: str, tmp_path: Path) -> tuple[subprocess.Popen, str, str]:
    (tmp_path / "job.py").write_text(JOB)
    (tmp_path / "orchestrator.py").write_text(ORCHESTRATOR)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "orchestrator.py"), kind, str(tmp_path / "runs"),
                             str(tmp_path / "job.py")], stdout=subprocess.PIPE, text=True, env=env)
    owner, job_id = proc.stdout.readline().split()
    return proc, owner, job_id


def _wait_until(predicate, timeout: float = 30.0) -> bool:
    """Poll for a state change (readiness, not a timing assertion)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _owner_groups(owner: str) -> list[Path]:
    return [base / "synthteam" / owner for base in cgroup_bases() if (base / "synthteam" / owner).exists()]


@pytest.mark.parametrize("kind", LOCAL_KINDS)
def test_a_killed_orchestrator_leaves_nothing_once_an_executor_starts(kind, tmp_path):
    proc, owner, job_id = _start_orchestrator(kind, tmp_path)
    workdir = tmp_path / "runs" / job_id
    assert _wait_until(lambda: (workdir / "ready").exists()), "the job never started"
    assert marked_pids(job_id), "the job's processes carry its id"
    groups = _owner_groups(owner)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if kind in ("bwrap", "warm"):  # the sandbox dies with its orchestrator, daemon included, before any cleanup
        assert _wait_until(lambda: not marked_pids(job_id), 20.0), marked_pids(job_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        executor = make_local(kind, tmp_path / "next")  # the next start cleans up
    assert not marked_pids(job_id), "a job process outlived its orchestrator"
    assert all(not g.exists() for g in groups) and not _owner_groups(owner)
    # (which executor removed them is not asserted: under pytest-xdist another worker's executor may start first)
    if kind == "none":  # the detached daemon survived its orchestrator until the cleanup killed it
        assert executor.orphans.killed


@pytest.mark.parametrize("kind", LOCAL_KINDS)
async def test_cleanup_never_touches_a_live_executors_job(kind, tmp_path):
    executor = make_local(kind, tmp_path / "runs")
    handle = await executor.submit(py_job("""
        import os, time
        open("ready", "w").write("yes")
        time.sleep(60)
    """, wall=60))
    workdir = executor.workdir(handle)
    for _ in range(1000):
        if (workdir / "ready").exists():
            break
        await asyncio.sleep(0.02)
    before = marked_pids(handle.job_id)
    done = await asyncio.to_thread(cleanup_orphans)
    assert before and marked_pids(handle.job_id) == before
    assert not set(done.killed) & before and not any(executor.owner in r for r in done.removed)
    await executor.cancel(handle)
    result = await executor.wait(handle)
    assert result.status.value == "cancelled" and not _owner_groups(executor.owner)


@pytest.mark.parametrize("kind", LOCAL_KINDS)
async def test_two_runs_with_the_same_job_id_never_kill_each_others_jobs(kind, tmp_path):
    """Job ids derive from the work (two runs of one team and seed start the same ones): one executor's job
    ending, timing out or being cancelled must leave the other executor's job of the same id running."""
    first = make_local(kind, tmp_path / "a")
    long = py_job('import time\nopen("ready", "w").write("yes")\ntime.sleep(60)\nopen("done", "w").write("yes")\n',
                  wall=60, job_id="same-id")
    handle = await first.submit(long)
    workdir = first.workdir(handle)
    for _ in range(1000):
        if (workdir / "ready").exists():
            break
        await asyncio.sleep(0.02)
    alive = marked_pids("same-id", first.owner)
    assert alive and alive <= marked_pids("same-id")
    for i, job in enumerate((py_job("print('quick')", job_id="same-id"),  # ends: what is left of it is killed
                             py_job("import time\ntime.sleep(30)", wall=0.5, job_id="same-id"))):  # SIGTERM, SIGKILL
        other = make_local(kind, tmp_path / f"other{i}")
        assert marked_pids("same-id", other.owner) == set()
        result = await other.wait(await other.submit(job))
        assert result.status.value in ("ok", "timeout"), result.error
        assert marked_pids("same-id", first.owner) == alive, "the other run's job was killed"
    await first.cancel(handle)
    assert (await first.wait(handle)).status.value == "cancelled"
