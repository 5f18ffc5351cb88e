"""`synthteam compare --executor ray`: cells run at once on a (local) Ray cluster, each inside its own
budget, and the comparison is written as with the local executor."""

import json

import pytest

from team import RunOptions
from team.engine.records.events import read_events
from team.studies.arms import parse_arm
from team.studies.compare import CompareOptions, run_compare
from tests.conftest_sandbox import ray_cluster  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.ray]
BUDGET = "wall=30s,job_seconds=24s"


# Two cells at once, each with a core of its own (the cluster's 2 CPUs): the whole machine (tests/cpus.py).
# Only this test: a module-wide mark made the sizing tests below wait for every token as well, a second
# wait as long as the other worker's test then running (201 s in one run).
@pytest.mark.cpus(2)
def test_cells_spread_over_ray_each_inside_its_own_budget(tmp_path, ray_cluster):  # noqa: F811
    out = tmp_path / "cmp"
    # The 2-CPU test cluster holds no cell with all its slots busy, so the default would run one cell at a
    # time; asking for two shows they still run at once and each stays inside its own budget (with a warning).
    options = CompareOptions(tasks=("add3",), arms=(parse_arm("solo"),), seeds=2, budget=BUDGET, out=str(out),
                             noise_runs=0, parallel=2,
                             run=RunOptions(job_seconds=12.0, progress=False, executor="ray"))
    lines: list[str] = []
    comparison = run_compare(options, say=lines.append)
    assert any(line.startswith("ray: 2 cells at once") for line in lines), lines
    assert any("--parallel 2 is more than the cluster holds" in line for line in lines), lines
    assert comparison["executor"] == "ray"
    assert comparison["tasks"]["add3"]["budget"]["matched"]
    windows = []
    for seed in (0, 1):
        cell = out / "cells" / "add3" / "solo" / f"s{seed}"
        result = json.loads((cell / "result.json").read_text())
        assert result["budget_limits"]["job_seconds"] == pytest.approx(24.0)
        assert result["budget_used"]["job_seconds"] <= 24.0 + 1e-6
        rows = read_events(cell / "events.jsonl")
        jobs = [r for r in rows if r["event"] == "job_finished" and r.get("outcome")]
        assert jobs, "the cell ran no job"
        for r in jobs:  # the job's artifacts came back from its Ray actor (a job cut short may log no metrics)
            folder = cell / "jobs" / r["job_id"]
            assert (folder / "stderr.log").exists() and (folder / "result.json").exists(), r
            assert r["status"] != "ok" or (folder / "metrics.jsonl").exists(), r
        windows.append((rows[0]["ts"], rows[-1]["ts"]))
    (a0, a1), (b0, b1) = windows
    assert a0 < b1 and b0 < a1, f"the two cells did not run at the same time: {windows}"


@pytest.mark.parametrize(("cores", "threads", "gpus", "resources", "expected"), [
    (2, 1, 0, {"CPU": 3.0}, 1),  # a local cluster on 2 cores: 2 job slots + the evaluation lane
    (2, 1, 0, {"CPU": 2.0}, 0),  # too small for one cell with every slot busy
    (4, 1, 0, {"CPU": 16.0}, 3),  # 4 slots + 1 per cell
    (4, 2, 0, {"CPU": 16.0}, 3),  # 2 slots of 2 threads + 1 per cell
    (4, 1, 1, {"CPU": 64.0, "GPU": 8.0}, 2),  # GPUs bind: 4 slots x 1 GPU per cell
])
def test_cells_at_once_fits_every_cells_slots_into_the_cluster(monkeypatch, cores, threads, gpus, resources,
                                                              expected):
    import sandbox.slots
    from team.studies.compare import cells_at_once

    monkeypatch.setattr(sandbox.slots, "usable_cpus", lambda: cores)
    assert cells_at_once(resources, RunOptions(cpu_threads=threads, gpus=gpus)) == expected
