"""A job's horizon in work (a task's budget `job_tokens`): the starter's schedule and checkpoint evaluations follow
its steps and tokens, not a clock, so the same config and seed train the same model alone and beside a busy
neighbour, and the time limit only stops a job too slow to reach its horizon."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_tasks_support import prepared, task_cache  # noqa: F401

pytestmark = pytest.mark.slow  # one CPU token: pinned to one core in a parallel run, where the neighbour shares it


async def _train(prepared_task, root: Path, *, neighbour: bool) -> tuple[int, str, str]:
    from sandbox import DeviceSlots, Job, Limits, LocalExecutor
    from tasks import set_constants, starter
    from tasks.jobs import solution_job
    from tasks.prepare import weights_digest

    executor = LocalExecutor(root, DeviceSlots.declared(cpu_slots=2))
    busy = None
    if neighbour:  # a sandboxed busy loop beside the job, on the wall clock: it takes half of the job's core
        busy = await executor.submit(Job(command=(sys.executable, "-c", "while True: pass"),
                                         limits=Limits(wall_seconds=600)))
        await asyncio.sleep(0.5)
    solution = set_constants(starter(prepared_task.task), {"steps": 100000, "batch_size": 32, "seed": 5})
    result = await executor.wait(await executor.submit(solution_job(prepared_task, solution, wall_seconds=240)))
    if busy is not None:
        await executor.cancel(busy)
        await executor.wait(busy)
    assert result.ok, result.stderr_tail
    steps = max(int(m.get("step", 0)) for m in result.metrics)
    return steps, result.summary()["stopped"], weights_digest(Path(result.workdir) / "final_model")


def test_a_token_horizon_trains_the_same_model_alone_and_beside_a_busy_neighbour(prepared, tmp_path):  # noqa: F811
    from tasks.jobs import job_tokens, solution_job
    from tasks.solutions import starter

    reverse = prepared["reverse"]
    task = replace(reverse.task, budget={**reverse.task.budget, "job_tokens": "60k"})
    horizon = replace(reverse, task=task)
    assert job_tokens(task) == 60_000
    assert solution_job(horizon, starter(task), wall_seconds=60).env["SYNTHTEAM_HORIZON"] == "60000"
    assert "SYNTHTEAM_HORIZON" not in solution_job(reverse, starter(task), wall_seconds=60).env

    alone = asyncio.run(_train(horizon, tmp_path / "alone", neighbour=False))
    beside = asyncio.run(_train(horizon, tmp_path / "beside", neighbour=True))
    assert alone[1] == beside[1] == "tokens", (alone, beside)
    assert alone == beside  # the same steps, and the same weights to the bit


@pytest.mark.parametrize("value, says", [("lots", "not a number with a unit"), ("0", "count must be positive"),
                                         ("3x", "unknown count unit")])
def test_a_bad_job_tokens_is_one_line_with_file_and_line(tmp_path, value, says):
    import subprocess

    folder = tmp_path / "mytask"
    folder.mkdir()
    text = (Path(__file__).resolve().parents[1] / "tasks" / "builtin" / "arith-hf" / "task.yaml").read_text()
    (folder / "task.yaml").write_text(text.replace("job_tokens: 1.2M", f"job_tokens: {value}"))
    proc = subprocess.run([sys.executable, "-m", "team.cli", "task", "prepare", str(folder)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"{folder / 'task.yaml'}:20: budget: "), proc.stderr
