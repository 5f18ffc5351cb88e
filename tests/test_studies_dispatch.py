"""Cell dispatch: the same cells, the same results and the same resume on every back-end. Slurm is
exercised through submitit's local executor (real subprocesses, real pickles) and, for the sbatch script
a cluster would get, a stand-in `sbatch` at the network edge."""

import json
import os
import pickle
import subprocess
import sys

import pytest

from sandbox.errors import ConfigError, SynthteamError
from team.engine.run.session import RunOptions
from team.studies.arms import Cell, parse_arm
from team.studies.dispatch import (
    Dispatch,
    SlurmOptions,
    _executor,
    check_dispatch,
    dispatch,
    parse_slurm_options,
)

LIMITS = {"wall": 30.0, "job_seconds": 24.0}
LOCAL_SLURM = SlurmOptions(cluster="local", minutes=5, poll_seconds=0.2)


def _cells(root, arms=("solo", "random"), seeds=2):
    return [Cell("add3", parse_arm(a), s, root / "cells" / "add3" / a / f"s{s}", dict(LIMITS),
                 RunOptions(job_seconds=12.0, progress=False)) for a in arms for s in range(seeds)]


def fake_cell(cell: Cell) -> dict:
    """A cell body that writes result.json as run_cell does (module level, so submitit can pickle it)."""
    done = cell.run_dir / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    if cell.arm.name == "boom":
        raise RuntimeError(f"node lost while running {cell.arm.name} s{cell.seed}")
    cell.run_dir.mkdir(parents=True, exist_ok=True)
    result = {"test_score": 0.5 + 0.1 * cell.seed, "baseline_score": 0.05, "dev_score": 0.6, "pid": os.getpid(),
              "budget_used": {"job_seconds": 20.0}, "budget_limits": dict(cell.limits), "flags": []}
    done.write_text(json.dumps(result))
    return result


def test_cells_pickle_as_they_travel_to_a_node(tmp_path):
    for cell in _cells(tmp_path):
        assert pickle.loads(pickle.dumps(cell)) == cell


def test_local_dispatch_runs_in_order_and_reads_finished_cells_back(tmp_path):
    cells, lines = _cells(tmp_path), []
    results = dispatch(cells, fake_cell, Dispatch("local"), lines.append)
    assert [r["test_score"] for r in results] == pytest.approx([0.5, 0.6, 0.5, 0.6])
    assert lines[0] == "[1/4] add3 solo s0: running ..." and "test 0.500 (baseline 0.050)" in lines[1]
    again: list[str] = []
    assert dispatch(cells, fake_cell, Dispatch("local"), again.append) == results
    assert again == [f"[{i + 1}/4] add3 {c.arm.name} s{c.seed}: done earlier, not run again" for i, c in enumerate(cells)]


@pytest.mark.slurm
def test_slurm_dispatch_runs_each_cell_as_its_own_job_and_resumes(tmp_path):
    cells, lines = _cells(tmp_path), []
    options = Dispatch("slurm", slurm=LOCAL_SLURM, folder=tmp_path / "slurm")
    results = dispatch(cells, fake_cell, options, lines.append)
    assert [r["test_score"] for r in results] == pytest.approx([0.5, 0.6, 0.5, 0.6])
    assert len({r["pid"] for r in results} | {os.getpid()}) == 5  # one process per cell, none in the driver
    assert sum(" as slurm job " in line for line in lines) == 4
    assert sum("test 0." in line for line in lines) == 4  # progress as each cell ends
    assert all((c.run_dir / "result.json").exists() for c in cells)
    again: list[str] = []
    assert dispatch(cells, fake_cell, options, again.append) == results
    assert all("done earlier, not run again" in line for line in again) and len(again) == 4


@pytest.mark.slurm
def test_a_cell_slurm_lost_is_named_and_the_others_are_kept(tmp_path):
    cells = _cells(tmp_path, arms=("solo", "boom"), seeds=1)
    options = Dispatch("slurm", slurm=LOCAL_SLURM, folder=tmp_path / "slurm")
    with pytest.raises(SynthteamError, match=r"1 of 2 cells did not finish on slurm.*boom s0.*node lost.*rerun"):
        dispatch(cells, fake_cell, options, lambda line: None)
    assert (cells[0].run_dir / "result.json").exists() and not (cells[1].run_dir / "result.json").exists()


@pytest.mark.slurm
def test_the_sbatch_script_carries_partition_time_and_options(tmp_path, monkeypatch):
    bin_dir, record = tmp_path / "bin", tmp_path / "script.sh"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncat "$1" > {record}\necho "Submitted batch job 4242"\n')
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    slurm = SlurmOptions("gpu", 30, parse_slurm_options(["cpus_per_task=4", "mem=8G", "reservation=r1"]))
    options = Dispatch("slurm", parallel=1, slurm=slurm, folder=tmp_path / "slurm")
    check_dispatch(options, cell_wall=600.0)
    jobs = _executor(options, 2).map_array(fake_cell, _cells(tmp_path, arms=("solo",)))
    assert [j.job_id for j in jobs] == ["4242_0", "4242_1"]
    script = record.read_text()
    for flag in ("--partition=gpu", "--time=30", "--cpus-per-task=4", "--mem=8G", "--reservation=r1", "--array=0-1%1"):
        assert f"#SBATCH {flag}\n" in script, flag


def test_bad_slurm_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_slurm_options(["cpus_per_task"])
    with pytest.raises(ConfigError, match="wall budget is 600 s"):
        check_dispatch(Dispatch("slurm", slurm=SlurmOptions(minutes=5, cluster="local")), cell_wall=600.0)
    if not os.environ.get("SLURM_CLUSTER_NAME"):
        with pytest.raises(ConfigError, match="no Slurm here"):
            check_dispatch(Dispatch("slurm", slurm=SlurmOptions()), cell_wall=60.0)


def test_slurm_without_submitit_is_one_line_and_exit_2(tmp_path):
    code = ("import sys; sys.modules['submitit'] = None; from team.cli import main; "
            f"sys.exit(main(['compare', '--task', 'add3', '--arm', 'solo', '--executor', 'slurm', '--out', '{tmp_path}']))")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "install synthteam[slurm]" in proc.stderr


@pytest.mark.slow
@pytest.mark.slurm
def test_a_real_comparison_runs_its_cells_through_submitit_and_resumes(tmp_path):
    """Two real solo cells on add3, each trained and verified in its own submitit job (local executor)."""
    from team.studies.compare import CompareOptions, run_compare

    options = CompareOptions(tasks=("add3",), arms=(parse_arm("solo"),), seeds=2, budget="wall=30s,job_seconds=24s",
                             out=str(tmp_path), noise_runs=0, slurm=LOCAL_SLURM,
                             run=RunOptions(job_seconds=12.0, progress=False))
    lines: list[str] = []
    comparison = run_compare(options, say=lines.append)
    assert comparison["executor"] == "slurm" and comparison["tasks"]["add3"]["budget"]["matched"]
    assert sum(" as slurm job " in line for line in lines) == 2
    for seed in (0, 1):
        cell = tmp_path / "cells" / "add3" / "solo" / f"s{seed}"
        result = json.loads((cell / "result.json").read_text())
        assert result["budget_used"]["job_seconds"] <= 24.0 * 1.05 and result["test_score"] >= 0.0
        assert (cell / "events.jsonl").exists()
    assert list((tmp_path / "slurm").glob("*_log.out"))  # the jobs' own logs
    again: list[str] = []
    run_compare(options, say=again.append)
    assert sum("done earlier, not run again" in line for line in again) == 2
    assert not any(" as slurm job " in line for line in again)


def test_local_cells_side_by_side_overlap_and_keep_their_order(tmp_path):
    import threading
    import time

    cells, running, most = _cells(tmp_path), [0], [0]
    lock = threading.Lock()

    def slow_cell(cell):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return fake_cell(cell)

    lines: list[str] = []
    results = dispatch(cells, slow_cell, Dispatch("local", parallel=2), lines.append)
    assert most[0] == 2 and [r["test_score"] for r in results] == pytest.approx([0.5, 0.6, 0.5, 0.6])
    assert lines[0].startswith("local: 2 cells side by side")
