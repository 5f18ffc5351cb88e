"""RayExecutor specifics on a local Ray with two declared logical GPUs: GPUs as Ray resources, artifacts
brought back into the run directory, and cancelling a job still waiting for resources.
(The shared behaviour tests in test_sandbox_limits/isolation also run against Ray.)
"""
# ruff: noqa: F811  (pytest fixtures imported from tests.conftest_sandbox are redefined as arguments)

from __future__ import annotations

import pytest

from sandbox import JobStatus
from tests.conftest_sandbox import py_job, ray_cluster, read_json  # noqa: F401

pytestmark = pytest.mark.ray


@pytest.fixture
def ray_executor(ray_cluster, tmp_path):
    from sandbox.ray_executor import RayExecutor

    return RayExecutor(root=tmp_path / "runs", term_grace=0.5)


async def test_gpu_jobs_hold_ray_gpus_and_are_pinned_to_them(ray_executor):
    code = "import json, os; json.dump(os.environ['CUDA_VISIBLE_DEVICES'], open('out.json', 'w'))"
    handles = [await ray_executor.submit(py_job(code, gpus=1)) for _ in range(2)]
    results = [await ray_executor.wait(h) for h in handles]
    assert all(r.status is JobStatus.OK for r in results)
    assert all(read_json(r) in ("0", "1") for r in results)  # Ray's logical GPU, never "" or both
    assert [r.devices for r in results] == [(f"cuda:{read_json(r)}",) for r in results]


async def test_artifacts_come_back_into_the_run_directory(ray_executor, tmp_path):
    result = await ray_executor.wait(await ray_executor.submit(py_job("""
        import os
        os.makedirs("final_model", exist_ok=True)
        open("final_model/weights.bin", "wb").write(bytes(range(256)) * 4)
    """)))
    assert result.workdir == tmp_path / "runs" / result.job_id
    assert (result.workdir / "final_model" / "weights.bin").read_bytes() == bytes(range(256)) * 4
    assert (result.workdir / "stdout.log").exists()


async def test_cancel_a_job_still_waiting_for_gpus(ray_executor):
    blocker = await ray_executor.submit(py_job("""
        import json, os, time
        open(os.environ["SYNTHTEAM_METRICS"], "a").write(json.dumps({"holding": 2}) + "\\n")
        time.sleep(60)
    """, gpus=2, wall=30))
    assert await anext(aiter(ray_executor.metrics(blocker))) == {"holding": 2}  # both GPUs are taken
    queued = await ray_executor.submit(py_job("open('ran', 'w')", gpus=2))
    await ray_executor.cancel(queued)
    result = await ray_executor.wait(queued)
    assert result.status is JobStatus.CANCELLED and not (result.workdir / "ran").exists()
    await ray_executor.cancel(blocker)
    assert (await ray_executor.wait(blocker)).status is JobStatus.CANCELLED
