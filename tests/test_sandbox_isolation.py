"""Isolation probed from inside real jobs: network, writes outside the work dir, hidden paths, credentials
in env and /proc, killing the harness, and a detached daemon that tries to outlive its job.
"""
# ruff: noqa: F811  (pytest fixtures imported from tests.conftest_sandbox are redefined as arguments)

from __future__ import annotations

import asyncio
import os
import socket
import uuid
import warnings
from pathlib import Path

import pytest

from sandbox import Job, JobStatus, LocalExecutor
from tests.conftest_sandbox import (  # noqa: F401
    HAS_BWRAP,
    executor,
    isolated_executor,
    py_job,
    ray_cluster,
    read_json,
)


async def run(executor, job: Job):
    return await executor.wait(await executor.submit(job))


@pytest.fixture
def loopback_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


async def test_network_is_unreachable_loopback_and_beyond(isolated_executor, loopback_server):
    result = await run(isolated_executor, py_job(f"""
        import json, socket
        outcome = {{}}
        for name, addr in [("loopback", ("127.0.0.1", {loopback_server})), ("testnet", ("192.0.2.1", 80))]:
            try:
                socket.create_connection(addr, timeout=2).close()
                outcome[name] = "connected"
            except OSError as exc:
                outcome[name] = type(exc).__name__
        json.dump(outcome, open("out.json", "w"))
    """))
    outcome = read_json(result)
    assert outcome["loopback"] != "connected" and outcome["testnet"] != "connected"
    assert outcome["testnet"] != "TimeoutError"  # no route at all: it fails fast


async def test_writes_outside_the_work_dir_do_not_reach_the_host(isolated_executor, tmp_path):
    outside, package = tmp_path / "outside.txt", Path(__file__).parent.parent / "sandbox" / f"evil-{uuid.uuid4().hex}"
    result = await run(isolated_executor, py_job(f"""
        import json
        outcome = {{}}
        for path in [{str(outside)!r}, {str(package)!r}, "/usr/evil.txt", "/tmp/scratch.txt"]:
            try:
                open(path, "w").write("x")
                outcome[path] = "written"
            except OSError as exc:
                outcome[path] = type(exc).__name__
        json.dump(outcome, open("out.json", "w"))
    """))
    outcome = read_json(result)
    assert not outside.exists() and not package.exists() and not Path("/usr/evil.txt").exists()
    assert outcome[str(package)] != "written" and outcome["/usr/evil.txt"] != "written"  # read-only binds
    assert outcome["/tmp/scratch.txt"] == "written"  # a private /tmp works


async def test_only_read_paths_are_visible(isolated_executor, tmp_path):
    allowed, hidden = tmp_path / "train", tmp_path / "sealed"
    allowed.mkdir(), hidden.mkdir()
    (allowed / "train.jsonl").write_text("visible")
    (hidden / "test.jsonl").write_text("SEALED")
    cache = Path.home() / ".cache" / f"synthteam-probe-{uuid.uuid4().hex}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("SEALED")
    try:
        result = await run(isolated_executor, py_job(f"""
            import json
            outcome = {{}}
            for path in [{str(allowed / "train.jsonl")!r}, {str(hidden / "test.jsonl")!r}, {str(cache)!r}]:
                try:
                    outcome[path] = open(path).read()
                except OSError as exc:
                    outcome[path] = type(exc).__name__
            json.dump(outcome, open("out.json", "w"))
        """, read_paths=(allowed,)))
    finally:
        cache.unlink()
    outcome = read_json(result)
    assert outcome[str(allowed / "train.jsonl")] == "visible"
    assert outcome[str(hidden / "test.jsonl")] != "SEALED" and outcome[str(cache)] != "SEALED"


async def test_credentials_are_not_in_env_nor_in_proc(isolated_executor, monkeypatch):
    monkeypatch.setenv("SECRET_API_KEY", "sk-do-not-leak")
    result = await run(isolated_executor, py_job("""
        import json, os
        leaks = [k for k, v in os.environ.items() if "sk-do-not-leak" in v or k == "SECRET_API_KEY"]
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if b"sk-do-not-leak" in open(f"/proc/{pid}/environ", "rb").read():
                    leaks.append(pid)
            except OSError:
                pass
        json.dump({"leaks": leaks, "pids": len(list(filter(str.isdigit, os.listdir("/proc"))))}, open("out.json", "w"))
    """))
    outcome = read_json(result)
    assert outcome["leaks"] == [] and outcome["pids"] < 10  # a private PID namespace


async def test_killing_the_parent_or_pkill_cannot_touch_the_harness(isolated_executor):
    probe = "pkill -9 -f pytest; pkill -9 -f python; pkill -9 -f ray; kill -9 $PPID; kill -9 $HARNESS_PID\n" \
            "kill -9 1; echo still-here\n"
    job = Job(("sh", "probe.sh"), files={"probe.sh": probe}, env={"HARNESS_PID": str(os.getpid())})
    result = await run(isolated_executor, job)
    assert "still-here" in result.stdout_tail
    assert result.status in (JobStatus.OK, JobStatus.FAILED)  # the harness is alive to report it


async def test_detached_daemon_dies_with_its_job(executor):
    result = await run(executor, py_job("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for i in range(500):
                    open("daemon_beat", "a").write(".")
                    time.sleep(0.02)
                os._exit(0)
            os._exit(0)
        while not os.path.exists("daemon_beat"):
            time.sleep(0.01)
        print("parent leaves")
    """))
    assert result.status is JobStatus.OK
    beats = (result.workdir / "daemon_beat").read_text()
    await asyncio.sleep(0.3)
    assert (result.workdir / "daemon_beat").read_text() == beats


def test_reduced_isolation_is_announced_loudly(tmp_path):
    with pytest.warns(RuntimeWarning, match="WITHOUT isolation"):
        executor = LocalExecutor(tmp_path, isolation="none")
    assert executor.isolation == "none" and "WITHOUT isolation" in executor.notice


@pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed or cannot create namespaces")
def test_bwrap_isolation_is_the_default_where_it_works(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        executor = LocalExecutor(tmp_path)
    assert executor.isolation == "bwrap" and executor.notice is None


async def test_the_builtin_task_folders_are_hidden_from_jobs(isolated_executor):
    from sandbox.isolation import hidden_paths

    builtin = Path(__file__).parent.parent / "tasks" / "builtin"
    assert builtin in hidden_paths() and (builtin / "reverse" / "task.yaml").is_file()
    result = await run(isolated_executor, py_job(f"""
        import json, os
        outcome = {{"listing": os.listdir({str(builtin)!r})}}
        for name in ["task.yaml", "data.py"]:
            try:
                outcome[name] = open({str(builtin / "reverse")!r} + "/" + name).read()
            except OSError as exc:
                outcome[name] = type(exc).__name__
        try:
            open({str(builtin)!r} + "/planted", "w").write("x")
            outcome["write"] = "written"
        except OSError as exc:
            outcome["write"] = type(exc).__name__
        json.dump(outcome, open("out.json", "w"))
    """))
    outcome = read_json(result)
    assert outcome["listing"] == [] and outcome["task.yaml"] == "FileNotFoundError" == outcome["data.py"]
    assert outcome["write"] != "written" and not (builtin / "planted").exists()
