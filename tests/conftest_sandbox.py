"""Shared helpers for the sandbox tests: executors of every kind behind one factory, tiny job builders.

Imported by the test_sandbox_* modules (fixtures defined here register where they are imported).
Ray starts once per test session, and only if a Ray-parametrized test runs.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from sandbox import DeviceSlots, Job, JobResult, Limits, LocalExecutor, Resources
from sandbox.isolation import find_bwrap
from sandbox.local import _bwrap_works

PY = sys.executable
HAS_BWRAP = bool(find_bwrap()) and _bwrap_works(find_bwrap())
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed or cannot create namespaces")
LOCAL_KINDS = [pytest.param("bwrap", marks=needs_bwrap), pytest.param("warm", marks=needs_bwrap), "none"]
RAY_KIND = pytest.param("ray", marks=pytest.mark.ray)
ALL_KINDS = [*LOCAL_KINDS, RAY_KIND]
ISOLATED_KINDS = [LOCAL_KINDS[0], LOCAL_KINDS[1], RAY_KIND]


def py_job(code: str, *, wall: float = 30.0, memory: int | None = None, disk: int | None = None,
           procs: int = 512, gpus: int = 0, cpu: float | None = None, **kw) -> Job:
    """A job running a dedented Python snippet (written as job.py into its work dir)."""
    resources = Resources(gpus=gpus, memory_bytes=memory)
    limits = Limits(wall_seconds=wall, disk_bytes=disk, max_processes=procs, cpu_seconds=cpu)
    files = {"job.py": textwrap.dedent(code), **kw.pop("files", {})}
    return Job(("python", "job.py"), files=files, resources=resources, limits=limits, **kw)


def read_json(result: JobResult, name: str = "out.json"):
    return json.loads((result.workdir / name).read_text())


def make_local(kind: str, root: Path, **kw) -> LocalExecutor:
    """kind: "bwrap" (every job a fresh interpreter), "warm" (bwrap, every job a fork of the warm worker,
    `sandbox.warm`) or "none" (no isolation)."""
    kw.setdefault("term_grace", 0.5)
    kw.setdefault("slots", DeviceSlots.declared(gpus=2, per_gpu=1, cpu_slots=4))
    kw.setdefault("warm", kind == "warm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return LocalExecutor(root, isolation="bwrap" if kind == "warm" else kind, **kw)


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # modules import this fixture separately; Ray still starts once
        yield ray
        return
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield ray
    ray.shutdown()


def _build(request, tmp_path: Path):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
        from sandbox.ray_executor import RayExecutor

        return RayExecutor(root=tmp_path / "runs", term_grace=0.5)
    return make_local(request.param, tmp_path / "runs")


@pytest.fixture(params=ALL_KINDS)
def executor(request, tmp_path):
    """Each shared behaviour test runs on: local+bwrap, local without isolation, and Ray."""
    return _build(request, tmp_path)


@pytest.fixture(params=ISOLATED_KINDS)
def isolated_executor(request, tmp_path):
    """Isolation probes: local+bwrap and Ray (whose workers run the same bwrap sandbox)."""
    return _build(request, tmp_path)


async def wait_for_file(path: Path, timeout: float = 20.0) -> None:
    """Poll until the job (or host) created `path` (a readiness signal, not a timing assertion)."""
    for _ in range(int(timeout / 0.02)):
        if path.exists():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never appeared")
