"""Where a comparison's cells run, behind one seam, `dispatch(cells, run_one, options, say)`: `local`
(one after another on this machine, or `--parallel N` side by side, their CPU jobs sharing the cores), `ray` (cells at once in threads, their jobs on a Ray cluster) or
`slurm` (each cell one submitit job on a node; the driver gathers the results). Resuming is the same on
every back-end because it lives in `run_one` (`run_cell`): a cell with result.json is read back, a
started one resumed. On slurm a finished cell is read back here, without a job.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError, SynthteamError

__all__ = ["Dispatch", "SlurmOptions", "dispatch", "CellsInterrupted", "check_dispatch", "map_remote", "parse_slurm_options",
           "cells_at_once", "cell_state", "BACKENDS"]

BACKENDS = ("local", "ray", "slurm")
Say = Callable[[str], None]


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    minutes: int = 60  # each cell's Slurm time limit (its wall budget plus verification must fit)
    options: tuple[tuple[str, Any], ...] = ()  # more sbatch options (--slurm-option k=v)
    cluster: str = "slurm"  # "local": submitit's local executor (tests; trying a study on one machine)
    poll_seconds: float = 10.0


@dataclass(frozen=True)
class Dispatch:
    backend: str = "local"  # local | ray | slurm
    parallel: int = 0  # ray: cells at once (0: as many as the cluster holds); slurm: array parallelism (0: all)
    run: Any = None  # team.engine.run.session.RunOptions of the cells (the ray fit reads its slots)
    slurm: SlurmOptions | None = None
    folder: Path | None = None  # slurm: submitit's scripts, pickles and logs (default ./slurm)


def parse_slurm_options(pairs: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """`k=v` strings (from --slurm-option) as sbatch options; integers stay integers."""
    out = []
    for pair in pairs:
        key, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not key or not value:
            raise ConfigError(f"--slurm-option {pair!r}: expected KEY=VALUE, e.g. cpus_per_task=4")
        typed = int(value) if value.isdigit() else True if value.lower() == "true" else value
        out.append((key.replace("-", "_"), typed))
    return tuple(out)


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor slurm: submitit is not installed; install synthteam[slurm] "
                          "(pip install 'synthteam[slurm]')") from None
    return submitit


def check_dispatch(options: Dispatch, cell_wall: float | None = None) -> None:
    """Bad dispatch options fail before anything runs (one line each, exit 2)."""
    if options.backend not in BACKENDS:
        raise ConfigError(f"--executor {options.backend!r}: one of {', '.join(BACKENDS)}")
    if options.backend != "slurm":
        return
    _submitit()
    slurm = options.slurm or SlurmOptions()
    if slurm.cluster == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise ConfigError("--executor slurm: no Slurm here (sbatch and srun not found); run compare on a Slurm "
                          "login node, with --out on a file system the nodes share")
    if slurm.minutes < 1:
        raise ConfigError("--time: at least one minute per cell")
    if cell_wall is not None and slurm.minutes * 60 < cell_wall:
        raise ConfigError(f"--time {slurm.minutes}: a cell's wall budget is {cell_wall:.0f} s; give each Slurm "
                          "job at least that (plus a few minutes for verification)")


def dispatch(cells: Sequence[Any], run_one: Callable[[Any], dict], options: Dispatch, say: Say) -> list[dict]:
    """Run every cell with `run_one` on the chosen back-end; results in the cells' order."""
    if options.backend == "slurm":
        return _slurm(cells, run_one, options, say)
    progress = _Progress(len(cells), say)

    def one(i: int, cell: Any) -> dict:
        state, started = progress.start(i, cell), time.monotonic()
        result = run_one(cell)
        if state != "done":
            progress.finish(i, cell, result, time.monotonic() - started)
        return result

    at_once = _ray_cells_at_once(options, len(cells), say) if options.backend == "ray" and len(cells) > 1 \
        else min(max(1, options.parallel), len(cells))
    if at_once < 2:
        return [one(i, c) for i, c in enumerate(cells)]
    if options.backend == "local":
        say(f"local: {at_once} cells side by side; their CPU jobs share this machine's cores (one job per core)")
    return _in_threads(cells, one, at_once)


class CellsInterrupted(SynthteamError):
    """Ctrl-C or SIGTERM stopped a comparison whose cells ran in threads; rerunning it resumes them."""

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}: the running cells stopped every job and "
                         "charged what it used; rerun the same command to resume them")


def _in_threads(cells: Sequence[Any], one: Callable[[int, Any], dict], at_once: int) -> list[dict]:
    """Cells in `at_once` threads. Only the main thread receives signals: Ctrl-C or SIGTERM is forwarded to
    every running cell's session (which stops its jobs and leaves itself to resume), cells not started yet
    are dropped, and the comparison raises CellsInterrupted once the running ones have stopped."""
    import signal
    import threading
    from concurrent.futures import ThreadPoolExecutor, wait

    from team.engine.run import interrupts

    futures: list = []
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        interrupts.interrupt_all(signum)
        for future in futures:
            future.cancel()

    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    previous = {s: signal.signal(s, forward) for s in signals}
    try:
        with ThreadPoolExecutor(max_workers=at_once) as pool:
            for i, cell in enumerate(cells):
                futures.append(pool.submit(one, i, cell))
                if received:  # a signal while the cells were queued: queue no more
                    futures[-1].cancel()
                    break
            wait(futures)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        interrupts.clear()
    if received:
        raise CellsInterrupted(received[0])
    return [future.result() for future in futures]


class _Progress:
    """One line when a cell starts (or is read back) and one when it ends, numbered [i/N]."""

    def __init__(self, total: int, say: Say):
        self.total, self.say = total, say

    def name(self, i: int, cell: Any) -> str:
        return f"[{i + 1}/{self.total}] {cell.task} {cell.arm.name} s{cell.seed}"

    def start(self, i: int, cell: Any, where: str = "") -> str:
        state = cell_state(cell.run_dir)
        if state == "done":
            self.say(f"{self.name(i, cell)}: done earlier, not run again")
        else:
            self.say(f"{self.name(i, cell)}: {state}{where} ...")
        return state

    def finish(self, i: int, cell: Any, result: dict, seconds: float) -> None:
        self.say(f"{self.name(i, cell)}: {_line(result)} in {seconds:.0f}s")


def cell_state(run_dir: Path) -> str:
    if (Path(run_dir) / "result.json").exists():
        return "done"
    return "resuming" if Path(run_dir).exists() else "running"


def _line(result: dict) -> str:
    used, limits = result.get("budget_used") or {}, result.get("budget_limits") or {}
    failure = result.get("error") or ", ".join(f.get("flag", "") for f in result.get("flags") or []
                                               if not f.get("advisory"))
    dev = result.get("dev_score")
    return (f"test {result['test_score']:.3f} (baseline {result['baseline_score']:.3f}), "
            f"dev {'-' if dev is None else f'{dev:.3f}'}, job-seconds {used.get('job_seconds', 0):.1f}/"
            f"{limits.get('job_seconds') or 0:.1f}" + (f", FAILED: {failure}" if failure else ""))


# -- ray ---------------------------------------------------------------------------------------------
def _ray_cells_at_once(options: Dispatch, count: int, say: Say) -> int:
    resources = _init_ray(options.run.ray_address)
    fit = cells_at_once(resources, options.run)
    at_once = min(options.parallel or max(1, fit), count)
    say(f"ray: {at_once} cells at once (cluster: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; "
        f"it holds {fit} cells with every job slot and evaluation lane busy)")
    if at_once > max(fit, 1):
        say(f"warning: --parallel {at_once} is more than the cluster holds: cells will wait for resources while "
            "their wall-clock budgets run, so their compute is no longer matched")
    return at_once


def cells_at_once(resources: dict[str, float], run: Any) -> int:
    """Cells a Ray cluster holds at once with each cell's training slots and evaluation lane all busy, so
    that no cell's wall clock runs while its jobs wait for the cluster (0: not even one)."""
    from team.engine.run.assemble import ray_slots

    slots = ray_slots(run)
    fit = int(resources.get("CPU", 0) // (slots * max(1, run.cpu_threads) + 1))
    if run.gpus:
        fit = min(fit, int(resources.get("GPU", 0) // (slots * run.gpus)))
    return fit


def _init_ray(address: str | None) -> dict[str, float]:
    import ray

    from team.engine.run.assemble import local_ray_cpus

    if not ray.is_initialized():  # once, before the cells' executors share it from their threads
        extra = {} if address else {"num_cpus": local_ray_cpus()}
        ray.init(address=address, include_dashboard=False, **extra)
    return dict(ray.cluster_resources())


# -- slurm -------------------------------------------------------------------------------------------
def _slurm(cells: Sequence[Any], run_one: Callable[[Any], dict], options: Dispatch, say: Say) -> list[dict]:
    progress, results = _Progress(len(cells), say), {}
    todo = []
    for i, cell in enumerate(cells):
        if cell_state(cell.run_dir) == "done":
            progress.start(i, cell)
            results[i] = run_one(cell)  # reads result.json back: no job for a finished cell
        else:
            todo.append(i)
    if todo:
        jobs = _executor(options, len(todo)).map_array(run_one, [cells[i] for i in todo])
        for i, job in zip(todo, jobs, strict=True):
            progress.start(i, cells[i], f" as slurm job {job.job_id}")
        results |= _gather(dict(zip(todo, jobs, strict=True)), cells, progress, options)
    return [results[i] for i in range(len(cells))]


def _executor(options: Dispatch, count: int) -> Any:
    submitit = _submitit()
    slurm = options.slurm or SlurmOptions()
    executor = submitit.AutoExecutor(folder=str(options.folder or "slurm"), cluster=slurm.cluster)
    known, extra = _split_sbatch_options(slurm.options)
    params = {"timeout_min": slurm.minutes, "name": "synthteam-cell", "slurm_partition": slurm.partition,
              "slurm_array_parallelism": options.parallel or count, **{f"slurm_{k}": v for k, v in known.items()}}
    if extra:
        params["slurm_additional_parameters"] = extra
    executor.update_parameters(**params)
    return executor


def _split_sbatch_options(pairs: Sequence[tuple[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Options submitit knows by name (cpus_per_task, mem, gpus_per_node, account, qos, ...) and the rest,
    which go to sbatch as they are."""
    from submitit.slurm.slurm import _get_default_parameters

    names = set(_get_default_parameters()) | {"mem", "constraint", "account", "qos", "gres", "exclude"}
    known = {k: v for k, v in pairs if k in names}
    return known, {k: v for k, v in pairs if k not in names}


def _gather(jobs: dict[int, Any], cells: Sequence[Any], progress: _Progress, options: Dispatch) -> dict[int, dict]:
    """Wait for every job, printing each cell as it ends. Jobs that Slurm killed (time limit, node
    failure, preemption) leave their cells unfinished: the error names them, and rerunning resumes them."""
    import submitit

    by_id = {job.job_id: i for i, job in jobs.items()}
    poll = (options.slurm or SlurmOptions()).poll_seconds
    results, lost, started = {}, [], time.monotonic()
    for job in submitit.helpers.as_completed(list(jobs.values()), poll_frequency=poll):
        i = by_id[job.job_id]
        try:
            results[i] = job.result()
        except Exception as exc:  # noqa: BLE001 - the job's own failure text, shown once per cell
            lost.append(f"{progress.name(i, cells[i])} (job {job.job_id}): {_first_line(exc)}")
            progress.say(f"{lost[-1]} — did not finish")
            continue
        progress.finish(i, cells[i], results[i], time.monotonic() - started)
    if lost:
        raise SynthteamError(f"{len(lost)} of {len(jobs)} cells did not finish on slurm ({lost[0]}); logs in "
                             f"{options.folder}; rerun the same command to resume them")
    return results


def _first_line(exc: BaseException) -> str:
    """The error a job's own traceback ends with (submitit wraps it in separators and log paths)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line[0].isspace()
             and not line.startswith(("-", "You can check"))]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def map_remote(fn: Callable[..., Any], items: Sequence[tuple], options: Dispatch) -> list[Any]:
    """`fn(*item)` for each item: here, or on slurm one job per item (e.g. a task's noise floor, so that
    no training runs on the login node). Used for work that is not a cell."""
    if options.backend != "slurm" or not items:
        return [fn(*item) for item in items]
    executor = _executor(options, len(items))
    jobs = [executor.submit(fn, *item) for item in items]
    try:
        return [job.result() for job in jobs]
    except Exception as exc:  # noqa: BLE001 - a failed job's text, as one line
        raise SynthteamError(f"a slurm job failed: {_first_line(exc)} (logs under {options.folder})") from None
