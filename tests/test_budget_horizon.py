"""Near the end of a budget, a task whose jobs have a horizon in work (job_tokens) starts no job that what is
left could not carry to its horizon: such a job would be stopped by its limit, its work following the clock."""

import asyncio
from pathlib import Path

import pytest

from sandbox.jobs import Job, JobResult, JobStatus, Limits
from team.engine.records.events import EventLog, read_events
from team.engine.records.ledger import Ledger
from team.engine.work.share import HORIZON_MARGIN, JobTime, Occupancy
from team.engine.work.slots import Slots


class HorizonExecutor:
    """A job needs `work` seconds of training to reach its horizon, and like the starters trains until 82% of its
    limit (it stops itself at 85%, less 3% to save): given enough it stops at its horizon (`stopped: tokens`)
    and is charged its work and a second to save; given less, it stops at 82% of its limit (`stopped:
    time_limit`) and is charged that and the second."""

    term_grace = 0.0

    def __init__(self, root: Path, work: float):
        self.root, self.work, self.limits = root, work, []

    async def submit(self, job):
        from sandbox.jobs import JobHandle

        (self.root / job.job_id).mkdir(parents=True)
        return JobHandle(job.job_id, job)

    async def wait(self, handle):
        limit = handle.job.limits.wall_seconds
        self.limits.append(limit)
        await asyncio.sleep(0.2)  # a job takes a while: jobs started together overlap
        trains = min(self.work, 0.82 * limit)
        used, stopped = trains + 1.0, "tokens" if trains >= self.work else "time_limit"
        (self.root / handle.job_id / "stdout.log").write_text(f"status: ok\nstopped: {stopped}\n")
        return JobResult(handle.job_id, JobStatus.OK, 0, (), self.root / handle.job_id, used, used, None,
                         f"status: ok\nstopped: {stopped}\n", "", ("cpu:0",), dict(handle.job.metadata))


def _job(limit: float, **metadata) -> Job:
    return Job(("true",), limits=Limits(wall_seconds=limit), metadata=metadata)


def _train(tmp_path: Path, horizon: bool, budget: float = 360.0, work: float = 80.0) -> tuple[list[str], list[dict]]:
    """Training jobs one after another (each asks 180 s; its dev evaluation uses 2 s) until the budget stops them;
    the `stopped` of each job that ran, and the run's rows."""
    events = EventLog(tmp_path / "events.jsonl")
    ledger = Ledger({"job_seconds": budget})
    share = JobTime(ledger, events, Occupancy(), lambda: 0.0, lambda: 20.0)
    share.horizon = horizon
    executor = HorizonExecutor(tmp_path / "jobs", work)
    (tmp_path / "jobs").mkdir()
    slots = Slots(executor, ledger, events, tmp_path / "jobs", 1, share)

    async def run() -> list[str]:
        stopped = []
        for i in range(20):
            meta = {"agent": "engineer", "role": "engineer"}
            result = await slots.run(f"job{i}", meta, _job, 180.0, training=True)
            if result is None:
                break
            stopped.append(result.summary()["stopped"])
            ledger.settle(slots.handed.pop(f"job{i}"), {"job_seconds": 2.0})  # its dev evaluation
        return stopped

    return asyncio.run(run()), read_events(tmp_path / "events.jsonl")


@pytest.mark.parametrize("budget, jobs", [(355, 3), (440, 4)])
def test_no_job_is_started_that_the_budget_cannot_carry_to_its_horizon(tmp_path, budget, jobs):
    # each job uses 80 + 1 s and its evaluation 2: at 355 what is left after three (~106 s, less the evaluation's
    # share) is more than a job used but less than it needs, since a job trains for 82% of its limit
    stopped, rows = _train(tmp_path / "horizon", horizon=True, budget=budget)
    assert stopped == ["tokens"] * jobs, stopped
    stop = [r for r in rows if r["event"] == "budget_stop"]
    assert len(stop) == 1 and "horizon" in stop[0]["reason"] and stop[0]["job_seconds_left"] > 8, stop

    # without a horizon the budget's last seconds make more jobs, and the last is stopped by its limit
    stopped, _ = _train(tmp_path / "clock", horizon=False, budget=budget)
    assert len(stopped) > jobs and stopped[-1] == "time_limit", stopped


def test_the_first_job_is_not_held_back_before_any_job_has_shown_what_its_horizon_costs(tmp_path):
    # 60 job-seconds: the first job gets what is left (its dev evaluation's share aside) and is cut by time
    stopped, rows = _train(tmp_path, horizon=True, budget=60.0)
    assert stopped == ["time_limit"] and not [r for r in rows if "horizon" in str(r.get("reason"))]


def test_the_budgets_end_is_split_into_no_piece_too_small_for_the_horizon(tmp_path):
    share = JobTime(Ledger({"job_seconds": 1000}), EventLog(tmp_path / "e"), Occupancy(queued=3), lambda: 0.0,
                    lambda: 20.0)
    # three running jobs, each at the 85% where a recipe stops itself: each will hand back 26 of its 181 reserved
    share.occupancy.live = {f"j{i}": (-1e6, 180.0, 181.0) for i in range(3)}
    refund = 3 * (181.0 - 180.0 * 0.85 - 2.0)
    assert share.fair_share(left=170, wanted=180) == pytest.approx((170 + refund) / 4)  # one piece per job
    share.horizon = True
    share.reached_horizon(80.0)  # a job needs ~102 s (it trains for 82% of its limit): two pieces carry one
    assert share.horizon_need() == pytest.approx(HORIZON_MARGIN * 80.0 / 0.82)
    assert int((170 + refund) // (share.horizon_need() + 1.0)) == 2
    assert share.fair_share(left=170, wanted=180) == pytest.approx((170 + refund) / 2)


def test_a_job_started_beside_the_first_waits_rather_than_start_with_a_scrap_of_the_budget(tmp_path):
    # 240 job-seconds, two slots, two jobs asking 180 s at once, before any job has shown what its horizon costs:
    # the first takes 180; the second would get the ~40 s left and be stopped by its limit. It waits for the
    # first instead, which shows the horizon's cost (81 s), and then gets enough to reach it.
    events = EventLog(tmp_path / "events.jsonl")
    ledger = Ledger({"job_seconds": 240.0})
    share = JobTime(ledger, events, Occupancy(), lambda: 0.0, lambda: 20.0)
    share.horizon = True
    executor = HorizonExecutor(tmp_path / "jobs", 80.0)
    (tmp_path / "jobs").mkdir()
    slots = Slots(executor, ledger, events, tmp_path / "jobs", 2, share)

    async def one(i: int) -> str | None:
        meta = {"agent": f"engineer[{i}]", "role": "engineer"}
        result = await slots.run(f"job{i}", meta, _job, 180.0, training=True)
        if result is None:
            return None
        ledger.settle(slots.handed.pop(f"job{i}"), {"job_seconds": 2.0})
        return result.summary()["stopped"]

    async def both():
        return await asyncio.gather(one(0), one(1))

    assert asyncio.run(both()) == ["tokens", "tokens"], executor.limits
    assert min(executor.limits) > HORIZON_MARGIN * 81.0 / 0.82, executor.limits


def test_jobs_waiting_for_budget_get_it_first_come_first_served(tmp_path):
    # The walk of a two-engineer team: engineer[1]'s first job waits beside engineer[0]'s (it was offered a scrap);
    # when engineer[0]'s job ends its agent asks for its next job at once. What comes back is enough for one job
    # to its horizon: it goes to the job that was waiting (before, to the one that asked as it came back).
    events = EventLog(tmp_path / "events.jsonl")
    ledger = Ledger({"job_seconds": 240.0})
    share = JobTime(ledger, events, Occupancy(), lambda: 0.0, lambda: 20.0)
    share.horizon = True
    executor = HorizonExecutor(tmp_path / "jobs", 80.0)
    (tmp_path / "jobs").mkdir()
    slots = Slots(executor, ledger, events, tmp_path / "jobs", 2, share)
    ran = []

    async def train(key: str, agent: str) -> bool:
        result = await slots.run(key, {"agent": agent, "role": "engineer"}, _job, 180.0, training=True)
        if result is None:
            return False
        ran.append(key)
        ledger.settle(slots.handed.pop(key), {"job_seconds": 2.0})
        return True

    async def engineer0():
        await train("e0-round1", "engineer[0]")
        await train("e0-round2", "engineer[0]")  # asks the moment its first job is settled

    async def engineer1():
        await asyncio.sleep(0.05)  # after engineer[0]'s first job has taken its 180 s
        await train("e1-round1", "engineer[1]")

    async def both():
        await asyncio.gather(engineer0(), engineer1())

    asyncio.run(both())
    assert ran == ["e0-round1", "e1-round1"], ran
    stop = [r for r in read_events(tmp_path / "events.jsonl") if r["event"] == "budget_stop"]
    assert [r["key"] for r in stop] == ["e0-round2"], stop


def test_a_resumed_run_stops_where_the_run_it_continues_stopped(tmp_path):
    """A session that resumes a run (its verification had failed) knows what a job needs to reach its horizon
    from the jobs the run finished: it starts no job the budget left cannot carry there. Before, it knew nothing,
    and an arith-hard study cell whose team had stopped with 127 s left (a job needs ~133 s) ran two more jobs
    when resumed, the second cut by its limit at 14 s."""
    from team.engine.work.memo import JobMemo

    stopped, rows = _train(tmp_path, horizon=True, budget=355.0)
    left = next(r for r in rows if r["event"] == "budget_stop")["job_seconds_left"]
    memo = JobMemo(tmp_path / "jobs", {r["job_id"]: {"trained": r["job_id"]} for r in rows if r["event"] == "job_started"})
    assert memo.horizon_costs() == [81.0] * len(stopped)

    events = EventLog(tmp_path / "resumed.jsonl")
    ledger = Ledger({"job_seconds": 355.0})
    ledger.charge({"job_seconds": 355.0 - left})
    share = JobTime(ledger, events, Occupancy(), lambda: 0.0, lambda: 20.0)
    share.horizon = True
    share.restore(memo)  # what the Workshop of a resumed session does
    slots = Slots(HorizonExecutor(tmp_path / "jobs2", 80.0), ledger, events, tmp_path / "jobs2", 1, share)
    result = asyncio.run(slots.run("again", {"agent": "engineer", "role": "engineer"}, _job, 180.0, training=True))
    assert result is None  # without the restored costs it ran, cut by its limit: `stopped: time_limit`
    stop = [r for r in read_events(tmp_path / "resumed.jsonl") if r["event"] == "budget_stop"]
    assert len(stop) == 1 and "horizon" in stop[0]["reason"], stop


class BusyMachineExecutor(HorizonExecutor):
    """Jobs on the CPU clock on a machine where a CPU-second takes `pace` wall seconds (other work oversubscribes
    the cores): a training job trains until 85% of its CPU limit (as recipes do); a dev evaluation needs `scoring`
    CPU-seconds and fails when its limit is less. The wall clock is `self.now`, which the run's ledger reads."""

    def __init__(self, root: Path, pace: float, scoring: float = 4.0):
        self.root, self.pace, self.scoring, self.now = root, pace, scoring, 0.0
        self.evaluations: list[tuple[float, bool]] = []  # (limit, scored) of each dev evaluation

    async def wait(self, handle):
        job = handle.job
        limit = job.limits.cpu_seconds
        training = job.metadata.get("kind") != "dev_eval"
        used = 0.85 * limit if training else min(self.scoring, limit)
        status = JobStatus.OK if training or limit >= self.scoring else JobStatus.TIMEOUT
        if not training:
            self.evaluations.append((limit, status is JobStatus.OK))
        self.now += self.pace * used
        (self.root / job.job_id / "stdout.log").write_text("status: ok\nstopped: time_limit\n")
        return JobResult(job.job_id, status, 0, (), self.root / job.job_id, self.pace * used, used, None,
                         "status: ok\nstopped: time_limit\n", "", ("cpu:0",), dict(job.metadata), clock="cpu")


def test_on_a_busy_machine_a_job_on_the_cpu_clock_leaves_wall_time_for_its_evaluation(tmp_path):
    """A job's limit is CPU-seconds; beside other work its wall time is longer. Before, its limit was cut only to
    the wall time left (less the evaluation's share), so near the wall budget's end a job finished with no wall
    left for its dev evaluation, which was given a 1 s limit and timed out: a job that was started, unscored,
    and a run with no final model. The budget now learns the wall clock's pace from the run's jobs."""
    executor = BusyMachineExecutor(tmp_path / "jobs", pace=2.0)
    events = EventLog(tmp_path / "events.jsonl")
    ledger = Ledger({"job_seconds": 10_000.0, "wall": 400.0}, clock=lambda: executor.now)
    share = JobTime(ledger, events, Occupancy(), lambda: 0.0, lambda: 20.0)
    (tmp_path / "jobs").mkdir()
    slots = Slots(executor, ledger, events, tmp_path / "jobs", 1, share, clock="cpu")

    async def run() -> int:
        trained = 0
        for i in range(20):
            meta = {"agent": "engineer", "role": "engineer"}
            result = await slots.run(f"job{i}", meta, _job, 120.0, training=True)
            if result is None:
                break
            trained += 1
            await slots.run(f"job{i}:dev", {**meta, "role": "harness", "kind": "dev_eval"},
                            lambda limit: _job(limit, kind="dev_eval"), 0.0, training=False,
                            hold=slots.handed.pop(f"job{i}"))
        return trained

    trained = asyncio.run(run())
    assert trained >= 2 and len(executor.evaluations) == trained, executor.evaluations
    assert all(scored for _, scored in executor.evaluations), executor.evaluations  # before: the last had a 1 s limit
    assert executor.now <= 400.0, executor.now  # and the run's wall time stays within its budget
