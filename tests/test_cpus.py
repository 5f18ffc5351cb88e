"""The CPU tokens of a parallel test run (tests/cpus.py): a test that takes the whole machine never runs
beside another one, single-token tests run side by side, and a crashed holder frees its tokens. Each side
is its own process posing as an xdist worker of a run of its own (not this run's tokens)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOLD = """
import sys, time
from pathlib import Path
from tests.cpus import cpus
n, marks = int(sys.argv[1]), Path(sys.argv[2])
(marks / f"trying-{sys.argv[3]}").write_text("")
with cpus(n):
    (marks / f"held-{sys.argv[3]}").write_text("")
    while not (marks / f"go-{sys.argv[3]}").exists():
        time.sleep(0.01)
    (marks / f"released-{sys.argv[3]}").write_text("")
"""


def _worker(n: int, marks: Path, name: str, run: str) -> subprocess.Popen:
    env = {**os.environ, "PYTEST_XDIST_TESTRUNUID": run, "PYTEST_XDIST_WORKER": f"gw-{name}",
           "SYNTHTEAM_TEST_CPUS": "2", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", HOLD, str(n), str(marks), name], env=env, cwd=ROOT)


def _until(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None or path.exists(), f"{proc.args[-1]} ended before {path.name}"
        assert time.monotonic() < deadline, f"no {path.name}"
        time.sleep(0.01)


def test_a_whole_machine_test_runs_alone_and_single_token_tests_share(tmp_path):
    run = uuid.uuid4().hex
    big = _worker(2, tmp_path, "big", run)
    _until(tmp_path / "held-big", big)
    small = _worker(1, tmp_path, "small", run)
    _until(tmp_path / "trying-small", small)
    time.sleep(0.5)  # time enough to take a token, were one free (the check cannot fail by slowness)
    assert not (tmp_path / "held-small").exists(), "a one-token test started beside a whole-machine test"
    (tmp_path / "go-big").write_text("")
    _until(tmp_path / "held-small", small)
    assert (tmp_path / "released-big").exists()  # it started only after the whole-machine test let go
    other = _worker(1, tmp_path, "other", run)
    _until(tmp_path / "held-other", other)  # the second core's token: both single-token tests hold one
    assert not (tmp_path / "released-small").exists()
    for name in ("small", "other"):
        (tmp_path / f"go-{name}").write_text("")
    for proc in (big, small, other):
        assert proc.wait(timeout=60) == 0


def test_a_crashed_holder_frees_its_tokens(tmp_path):
    run = uuid.uuid4().hex
    big = _worker(2, tmp_path, "big", run)
    _until(tmp_path / "held-big", big)
    big.kill()
    big.wait()
    small = _worker(2, tmp_path, "small", run)
    _until(tmp_path / "held-small", small)
    (tmp_path / "go-small").write_text("")
    assert small.wait(timeout=60) == 0


def test_without_xdist_nothing_waits(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    code = "from tests.cpus import cpus, held\nwith cpus(2):\n    print(held())"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "0", out.stderr


PINNED = """
import os, subprocess, sys
import torch  # loaded before pinning, as in a worker: its pool was sized by every core
from tests.cpus import cpus
from sandbox.slots import usable_cpus
child = "import os; print(sorted(os.sched_getaffinity(0)))"
# started before the tokens and alive through them (a session's Ray cluster), with a child of its own
kept = subprocess.Popen([sys.executable, "-c", "import subprocess; p = subprocess.Popen(['sleep', '60']); "
                         "print(p.pid, flush=True); p.wait()"], stdout=subprocess.PIPE, text=True)
grandchild = int(kept.stdout.readline())
kept_cores = lambda: sorted(os.sched_getaffinity(kept.pid)) == sorted(os.sched_getaffinity(grandchild)) and \
    sorted(os.sched_getaffinity(kept.pid))
with cpus(int(sys.argv[1])):
    inner = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout.strip()
    print(sorted(os.sched_getaffinity(0)), inner, usable_cpus(), torch.get_num_threads(), kept_cores())
print(sorted(os.sched_getaffinity(0)), torch.get_num_threads(), kept_cores())
os.kill(grandchild, 9)
"""


def test_a_worker_runs_on_the_cores_of_its_tokens_and_what_it_starts_too(tmp_path):
    """One token: the worker, its children (those it starts, and those it started before and their own), the
    job slots it sizes and torch's thread pool see one core; every token: all of them; and all of them again
    once it lets go."""
    cores = sorted(os.sched_getaffinity(0))
    env = {**os.environ, "PYTEST_XDIST_TESTRUNUID": uuid.uuid4().hex, "PYTEST_XDIST_WORKER": "gw-pin",
           "SYNTHTEAM_TEST_CPUS": str(len(cores)), "PYTHONPATH": str(ROOT)}
    for n, expected in ((1, cores[:1]), (len(cores), cores)):
        out = subprocess.run([sys.executable, "-c", PINNED, str(n)], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        inside, after = out.stdout.strip().splitlines()
        assert inside == f"{expected} {expected} {len(expected)} {len(expected)} {expected}"
        assert after == f"{cores} {len(cores)} {cores}"
