"""Device slots: FIFO fairness, GPUs on distinct devices, CUDA_VISIBLE_DEVICES pinning, device-seconds
charged per role, and real jobs that serialize on one slot and overlap on two (ordered by timestamps).
"""

from __future__ import annotations

import asyncio

import pytest

from sandbox import DeviceSlots, JobStatus, charge_by
from tests.conftest_sandbox import LOCAL_KINDS, make_local, py_job, read_json


async def test_gpu_jobs_get_distinct_devices_and_wait_in_fifo_order():
    slots = DeviceSlots.declared(gpus=2, per_gpu=1, cpu_slots=1)
    both = await slots.acquire(2)
    assert both.devices == ("cuda:0", "cuda:1") and both.cuda_visible_devices == "0,1"
    order: list[str] = []

    async def take(name: str, gpus: int):
        grant = await slots.acquire(gpus)
        order.append(name)
        return grant

    first, second = asyncio.create_task(take("two", 2)), asyncio.create_task(take("one", 1))
    await asyncio.sleep(0)
    slots.release(both)
    grant_two = await first
    assert order == ["two"] and not second.done()  # "one" may not overtake the head of the queue
    slots.release(grant_two)
    assert (await second).device_count == 1 and order == ["two", "one"]


async def test_a_cancelled_waiter_gives_its_place_back():
    slots = DeviceSlots.declared(gpus=1, per_gpu=1, cpu_slots=1)
    held = await slots.acquire(1)
    waiter = asyncio.create_task(slots.acquire(1))
    await asyncio.sleep(0)
    waiter.cancel()
    slots.release(held)
    assert (await slots.acquire(1)).devices == ("cuda:0",)


async def test_per_gpu_slots_share_a_device_and_too_many_gpus_is_an_error():
    slots = DeviceSlots.declared(gpus=1, per_gpu=2, cpu_slots=1)
    assert (await slots.acquire(1)).devices == (await slots.acquire(1)).devices == ("cuda:0",)
    with pytest.raises(ValueError, match="wants 2 GPUs"):
        await slots.acquire(2)


def test_cpu_slots_are_sized_to_the_cores():
    assert DeviceSlots.declared(cpu_threads=1).cpu_slots >= 1
    assert DeviceSlots.declared(cpu_threads=10_000).cpu_slots == 1


STAMP = """
    import json, time
    start = time.time()
    time.sleep(0.8)
    json.dump({"start": start, "end": time.time()}, open("out.json", "w"))
"""


async def _two_jobs(executor):
    handles = [await executor.submit(py_job(STAMP)) for _ in range(2)]
    return [await executor.wait(h) for h in handles]


@pytest.mark.parametrize("kind", LOCAL_KINDS)
async def test_one_cpu_slot_serializes_two_jobs(kind, tmp_path):
    executor = make_local(kind, tmp_path, slots=DeviceSlots.declared(cpu_slots=1))
    a, b = (read_json(r) for r in await _two_jobs(executor))
    assert a["end"] <= b["start"]


@pytest.mark.parametrize("kind", LOCAL_KINDS)
async def test_two_cpu_slots_run_two_jobs_at_once(kind, tmp_path):
    executor = make_local(kind, tmp_path, slots=DeviceSlots.declared(cpu_slots=2))
    results = await _two_jobs(executor)
    a, b = (read_json(r) for r in results)
    assert max(a["start"], b["start"]) < min(a["end"], b["end"])
    assert {r.devices for r in results} == {("cpu:0",), ("cpu:1",)}


@pytest.mark.parametrize("kind", LOCAL_KINDS)
async def test_gpu_jobs_are_pinned_and_charged_per_device(kind, tmp_path):
    executor = make_local(kind, tmp_path, slots=DeviceSlots.declared(gpus=2, per_gpu=1, cpu_slots=1))
    code = "import json, os; json.dump(os.environ['CUDA_VISIBLE_DEVICES'], open('out.json', 'w'))"
    jobs = [py_job(code, gpus=2, metadata={"role": "engineer"}), py_job(code, metadata={"role": "critic"}),
            py_job(code, gpus=1, metadata={"role": "engineer"})]
    results = [await executor.wait(await executor.submit(job)) for job in jobs]
    assert [read_json(r) for r in results][:2] == ["0,1", ""] and read_json(results[2]) in ("0", "1")
    assert all(r.status is JobStatus.OK for r in results)
    assert results[0].device_seconds == pytest.approx(2 * results[0].wall_seconds)
    charged = charge_by(results)
    assert charged["engineer"] == pytest.approx(results[0].device_seconds + results[2].device_seconds)
    assert charged["critic"] == pytest.approx(results[1].device_seconds)


def test_job_slots_follow_the_cores_this_process_may_use():
    """A process pinned to one core (taskset, a cpuset, a Slurm allocation) sizes one CPU slot, not the
    machine's count."""
    import subprocess
    import sys

    code = ("import os; from sandbox.slots import cpu_share, usable_cpus, DeviceSlots\n"
            "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
            "print(usable_cpus(), cpu_share(1), DeviceSlots.detect().cpu_slots)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["1", "1", "1"], out.stderr


async def test_executors_sharing_the_cores_never_run_more_cpu_jobs_than_there_are(tmp_path):
    """Two executors (two comparison cells side by side) with two slots each, on a machine of one shared
    core: their CPU jobs run one at a time; a dev evaluation keeps its own lane."""
    from sandbox.cores import SharedCores

    cores = SharedCores(count=1, folder=tmp_path / "cores")
    first, second = (make_local("none", tmp_path / name, slots=DeviceSlots.declared(cpu_slots=2), share_cores=cores)
                     for name in ("a", "b"))
    handles = [await ex.submit(py_job(STAMP)) for ex in (first, second, first)]
    results = [await ex.wait(h) for ex, h in zip((first, second, first), handles, strict=True)]
    stamps = sorted((read_json(r) for r in results), key=lambda s: s["start"])
    assert all(a["end"] <= b["start"] for a, b in zip(stamps, stamps[1:], strict=False)), stamps
    held = cores.try_acquire()
    assert held is not None, "a finished job keeps its core"
    assert cores.try_acquire() is None
    lane = await first.wait(await first.submit(py_job(STAMP, metadata={"kind": "dev_eval"})))
    cores.release(held)
    assert lane.status is JobStatus.OK  # it ran while the only core was held


def test_a_job_with_two_threads_holds_two_cores_or_none(tmp_path):
    from sandbox.cores import SharedCores

    cores = SharedCores(count=2, folder=tmp_path / "cores")
    one = cores.try_acquire()
    assert one is not None and cores.try_acquire(2) is None, "a two-thread job cannot start on one free core"
    assert cores.try_acquire() is not None, "and it did not keep the free one while it waited"
    cores.release(one)


def test_cells_side_by_side_all_find_the_cpu_clock():
    """Cells run side by side in threads each ask whether the CPU clock works; none may be told no because
    another's probe group had the same name (one cell of a study ran on the wall clock so)."""
    import threading

    from sandbox.local import cpu_clock_problem

    if cpu_clock_problem() is not None:
        pytest.skip("no CPU accounting here")
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(cpu_clock_problem())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [None] * 8
