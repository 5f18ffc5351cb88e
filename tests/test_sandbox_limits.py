"""Each limit tripped by a real job, on every executor: wall time, memory, process flood, disk; plus the
basic contract (status, exit code, metrics, files, tails), cancellation and metrics streaming.
"""
# ruff: noqa: F811  (pytest fixtures imported from tests.conftest_sandbox are redefined as arguments)

from __future__ import annotations

import asyncio

import pytest

from sandbox import Job, JobError, JobStatus
from tests.conftest_sandbox import LOCAL_KINDS, executor, make_local, py_job, ray_cluster  # noqa: F401

MB = 1 << 20


async def run(executor, job: Job):
    return await executor.wait(await executor.submit(job))


async def test_ok_job_reports_metrics_files_and_summary(executor):
    result = await run(executor, py_job("""
        import json, os
        print(open("data/in.txt").read().strip())
        with open(os.environ["SYNTHTEAM_METRICS"], "a") as fh:
            for step in range(3):
                fh.write(json.dumps({"step": step, "loss": 1.0 / (step + 1)}) + "\\n")
        open("model.bin", "wb").write(b"weights")
        print("final_loss: 0.333")
    """, files={"data/in.txt": "hello from the harness"}, metadata={"role": "engineer"}))
    assert result.status is JobStatus.OK and result.exit_code == 0
    assert [row["step"] for row in result.metrics] == [0, 1, 2]
    assert "hello from the harness" in result.stdout_tail
    assert result.summary()["final_loss"] == "0.333"
    assert (result.workdir / "model.bin").read_bytes() == b"weights"
    assert result.device_seconds >= result.wall_seconds > 0
    assert result.metadata["role"] == "engineer" and result.error == ""


async def test_failing_job_is_failed_with_its_exit_code_and_stderr(executor):
    result = await run(executor, py_job("import sys; print('boom', file=sys.stderr); sys.exit(3)"))
    assert result.status is JobStatus.FAILED and result.exit_code == 3
    assert "boom" in result.stderr_tail and "exit code 3" in result.error


async def test_cpu_time_is_the_jobs_own_and_ends_it_when_the_limit_is_set(tmp_path):
    from sandbox.local import cpu_clock_problem
    from tests.conftest_sandbox import make_local

    if cpu_clock_problem():
        pytest.skip(f"no CPU accounting here: {cpu_clock_problem()}")
    local = make_local("none", tmp_path)
    # sleeping costs no CPU: a CPU limit of 1 s does not end a job that sleeps 2 s
    idle = await run(local, py_job("import time; time.sleep(2.0)", cpu=1.0))
    assert idle.status is JobStatus.OK and idle.wall_seconds >= 2.0 and idle.cpu_seconds < 1.0
    # a child's busy loop counts too (the cgroup's accounting): the job is stopped a little past 1 CPU-second
    busy = await run(local, py_job("""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", "while True: pass"])
    """, cpu=1.0))
    assert busy.status is JobStatus.TIMEOUT and "CPU time limit 1 s" in busy.error
    assert 1.0 <= busy.cpu_seconds < 10.0


async def test_a_job_on_the_cpu_clock_is_charged_its_cpu_seconds_and_a_gpu_job_stays_on_the_wall(tmp_path):
    from sandbox import on_cpu_clock
    from sandbox.local import cpu_clock_problem
    from tests.conftest_sandbox import make_local

    if cpu_clock_problem():
        pytest.skip(f"no CPU accounting here: {cpu_clock_problem()}")
    job = on_cpu_clock(py_job("""
        import os, time
        time.sleep(1.5)  # waiting costs no CPU
        print("clock:", os.environ["SYNTHTEAM_CLOCK"])
    """, wall=5.0))
    assert job.limits.cpu_seconds == 5.0 and job.limits.wall_seconds > 5.0  # the wall limit is a backstop
    result = await run(make_local("none", tmp_path), job)
    assert result.ok and result.clock == "cpu" and result.summary()["clock"] == "cpu"
    assert result.wall_seconds >= 1.5 and result.device_seconds == result.cpu_seconds < 1.0
    assert on_cpu_clock(py_job("pass", gpus=1)).limits.cpu_seconds is None


async def test_wall_time_sends_sigterm_then_reports_timeout(executor):
    result = await run(executor, py_job("""
        import signal, sys, time
        def on_term(*_):
            open("got_sigterm", "w").write("yes")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        print("ready", flush=True)
        time.sleep(60)
    """, wall=1.0))
    assert result.status is JobStatus.TIMEOUT and "wall time" in result.error
    assert (result.workdir / "got_sigterm").read_text() == "yes"  # the grace period was honoured


async def test_job_ignoring_sigterm_is_killed_with_its_children(executor):
    result = await run(executor, py_job("""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n" \\
                "while True:\\n open('beat','a').write('.'); time.sleep(0.02)"
        subprocess.Popen([sys.executable, "-c", child])
        time.sleep(60)
    """, wall=1.0))
    assert result.status is JobStatus.TIMEOUT
    beats = (result.workdir / "beat").read_text()
    await asyncio.sleep(0.3)
    assert (result.workdir / "beat").read_text() == beats  # the child is gone too


async def test_memory_limit_reports_oom(executor):
    result = await run(executor, py_job("""
        chunks = []
        for _ in range(100):
            chunks.append(bytearray(16 * 1024 * 1024))  # touch 16 MiB at a time, 1.6 GiB in all
        print("survived")
    """, memory=200 * MB))
    assert result.status is JobStatus.OOM and "memory limit" in result.error
    assert "survived" not in result.stdout_tail


@pytest.mark.parametrize("kind", LOCAL_KINDS)
async def test_memory_limit_without_cgroups_uses_rlimit_and_reports_oom(kind, tmp_path):
    executor = make_local(kind, tmp_path, cgroups=False)
    result = await run(executor, py_job("x = bytearray(1024 * 1024 * 1024)", memory=200 * MB))
    assert result.status is JobStatus.OOM and "MemoryError" in result.stderr_tail


async def test_process_flood_is_stopped_at_the_process_limit(executor):
    result = await run(executor, py_job("""
        import os, time
        children = 0
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                children += 1
            except OSError:
                print("fork refused after", children, flush=True)
                time.sleep(60)
    """, procs=24, wall=20))
    assert result.status is JobStatus.KILLED and "process limit 24" in result.error


async def test_disk_limit_kills_the_job_and_keeps_its_artifacts(executor):
    result = await run(executor, py_job("""
        import time
        open("notes.txt", "w").write("started")
        for i in range(400):
            open(f"shard{i}.bin", "wb").write(b"x" * (1 << 20))
            time.sleep(0.01)
    """, disk=8 * MB, wall=20))
    assert result.status is JobStatus.KILLED and "disk limit" in result.error
    assert (result.workdir / "notes.txt").read_text() == "started"
    assert not (result.workdir / "shard399.bin").exists()


async def test_one_huge_file_trips_the_disk_limit(executor):
    result = await run(executor, py_job("open('big.bin', 'wb').write(b'x' * (64 << 20))", disk=8 * MB))
    assert result.status is JobStatus.KILLED and "disk limit" in result.error


async def test_metrics_stream_while_the_job_runs_and_cancel_stops_it(executor):
    handle = await executor.submit(py_job("""
        import json, os, time
        with open(os.environ["SYNTHTEAM_METRICS"], "a") as fh:
            fh.write(json.dumps({"step": 0, "phase": "warmup"}) + "\\n")
        time.sleep(60)
    """, wall=30))
    first = await anext(aiter(executor.metrics(handle)))
    assert first == {"step": 0, "phase": "warmup"}  # arrived while the job was still sleeping
    await executor.cancel(handle)
    result = await executor.wait(handle)
    assert result.status is JobStatus.CANCELLED and result.metrics == ({"step": 0, "phase": "warmup"},)


async def test_credentials_in_job_env_are_refused(executor):
    with pytest.raises(JobError, match="OPENAI_API_KEY"):
        await executor.submit(py_job("print(1)", env={"OPENAI_API_KEY": "sk-x", "SEED": "1"}))


async def test_job_files_cannot_escape_the_work_dir(executor):
    with pytest.raises(JobError, match="inside the work dir"):
        await executor.submit(py_job("print(1)", files={"../escape.txt": "x"}))
