"""The budget's fair share of job time: how long a job may run and what it reserves. A training job asks for
its limit (raised to the useful minimum, within what the ledger has left, and near the end of the budget
split with the jobs queued for the slots about to free up) and reserves it together with its dev
evaluation's share; while running jobs (or a finished job's share kept for its evaluation) hold what it
lacks, it waits for them to hand it back. When the
ledger cannot give the minimum, no new job starts (`stopping`).

A task whose jobs have a horizon in work (`job_tokens`) stops one job earlier: a job that what is left of the
budget could not carry to its horizon (the most a job of this run that reached it was charged, with a margin)
is not started, so that no job's work follows the clock (one squeezed into the budget's end would be stopped
by its limit, with fewer steps the busier the machine). Before any job has reached its horizon there is
nothing exact to go by: a job offered less than half of what it asked while other jobs run waits for them
(the first to finish shows what the horizon costs); with nothing running, it starts with what is left.

On the CPU clock a job's limit is CPU-seconds, and beside other work a CPU-second takes more than a second of wall
time: a job's limit is also cut so that it and its dev evaluation end within the wall-clock budget at the pace
this run's training jobs have shown (`pace`), or a job started near the wall's end could not be scored.

Training jobs waiting for budget are served first come, first served: a job that asks while others wait queues
behind them (one that came as budget was handed back would otherwise take it before the waiters woke).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from groundwork.errors import BudgetExhausted
from tasks.recipe import SAVE_SHARE
from tasks.recipe import WALL_FRACTION as RECIPE_STOPS_AT  # a recipe stops itself at this share
from team.engine.records import catalog as ev
from team.engine.records.events import EventLog
from team.engine.records.ledger import Ledger, Reservation
from team.engine.work.memo import JobMemo

__all__ = ["JobTime", "Occupancy", "MIN_JOB_SECONDS"]

MIN_JOB_SECONDS = 8.0  # a job with less time than this left is not started
HORIZON_MARGIN = 1.05  # near the budget's end a job needs this times the most a job that reached its horizon used,
# over the share of its limit it trains for (recipes and starters stop at WALL_FRACTION, less SAVE_SHARE to save)
TRAINS_FOR = RECIPE_STOPS_AT - SAVE_SHARE
PACE_JOBS = 3  # the wall clock's pace per CPU-second follows this run's last few training jobs
PACE_MIN_SECONDS = 5.0  # a shorter job's start-up says more than its pace
UNKNOWN_HORIZON_SHARE = 0.5  # before any job has reached its horizon, a job offered less than this share of what it
# asked while others run waits for them (a task's job limit is sized to carry its horizon with room to spare)


@dataclass
class Occupancy:
    """What the slots hold, as the budget sees it (the slots keep it up to date)."""

    queued: int = 0  # training jobs waiting for a slot
    live: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # key -> (started, limit, reserved)
    holding: int = 0  # jobs (training and evaluation) holding a reservation right now
    returned: asyncio.Event = field(default_factory=asyncio.Event)  # set when a job hands budget back

    def handed_back(self) -> None:
        """A job handed back what it did not use: jobs waiting for budget look again."""
        self.returned.set()
        self.returned = asyncio.Event()


class JobTime:
    def __init__(self, ledger: Ledger, events: EventLog, occupancy: Occupancy, grace: Callable[[], float],
                 eval_cap: Callable[[], float], gpus: int = 0):
        self.ledger, self.events, self.occupancy, self.gpus = ledger, events, occupancy, gpus
        self._grace, self._eval_cap = grace, eval_cap
        self.stopping = False  # no new jobs: the budget cannot give one
        self.eval_walls: list[float] = []  # wall seconds of this run's evaluations (earlier sessions' too)
        self.horizon = False  # the task's jobs have a horizon in work (job_tokens): hold back jobs it cannot fit
        self.horizon_costs: list[float] = []  # what this run's training jobs that reached their horizon used
        self.paces: list[float] = []  # wall seconds per CPU-second of this run's training jobs on the CPU clock
        self._waiting: list[object] = []  # training jobs waiting for budget, in the order they asked

    def stop_new_jobs(self) -> None:
        self.stopping = True

    def held(self) -> bool:
        """Job-seconds are held that may come back: by running jobs, or by a training job's share kept for its
        dev evaluation that has not reached the evaluation lane yet."""
        return bool(self.occupancy.holding) or self.ledger.reserved.get("job_seconds", 0.0) > 1e-6

    def held_by_running_jobs(self) -> bool:
        """The ledger cannot give a new job its minimum now only because running jobs hold it: once they hand
        back what they do not use, it may (a planner waits for that instead of stopping with budget unused)."""
        ledger = self.ledger
        if "job_seconds" not in ledger.limits or not self.held():
            return False
        floor = self.floor() + self.eval_hold()
        unspent = ledger.limits["job_seconds"] - ledger.spent["job_seconds"]
        return ledger.left("job_seconds") < floor <= unspent

    def floor(self) -> float:
        """The least a job reserves: the useful minimum, the grace period past it (SIGTERM, then SIGKILL) and a
        second to stop."""
        return MIN_JOB_SECONDS + self.grace() + 1.0

    def grace(self) -> float:
        """What a job past its limit gets between SIGTERM and SIGKILL (the executor's)."""
        return self._grace()

    def reached_horizon(self, used: float) -> None:
        """A training job stopped at its horizon (its summary says `stopped: tokens`) and was charged `used`
        (device-seconds: its time limit is per device)."""
        self.horizon_costs.append(used / max(self.gpus, 1))

    def restore(self, memo: JobMemo) -> None:
        """What the jobs of earlier sessions showed: how long dev evaluations take, and what a job
        needs to reach its horizon, so that a resumed run holds jobs back where the run it continues did."""
        self.eval_walls.extend(memo.evaluation_walls())
        for used in memo.horizon_costs():
            self.reached_horizon(used)

    def timed(self, wall_seconds: float, cpu_seconds: float) -> None:
        """A training job on the CPU clock took `wall_seconds` for `cpu_seconds` (more than one a second when other
        work oversubscribes the cores)."""
        if cpu_seconds >= PACE_MIN_SECONDS:
            self.paces.append(wall_seconds / cpu_seconds)

    def pace(self) -> float:
        """Wall seconds a CPU-second takes now: the most of this run's last PACE_JOBS training jobs on the CPU clock
        (1 before any, and never less). A job's limit is in CPU-seconds; it and its dev evaluation must still end
        within the wall-clock budget, or a job that was started could not be scored."""
        return max([1.0, *self.paces[-PACE_JOBS:]])

    def horizon_need(self) -> float | None:
        """The time limit a job needs to reach its horizon: the most a job of this run that reached it used,
        over the share of its limit a job trains for (it stops itself at 85%, less a saving margin: a job given
        exactly what the last one used stops short of it), with a margin (the same job's CPU-seconds vary by
        a tenth on a shared machine). None when the task has no horizon or no job has reached it yet."""
        if not self.horizon or not self.horizon_costs:
            return None
        return HORIZON_MARGIN * max(self.horizon_costs) / TRAINS_FOR

    # -- a dev evaluation's share -----------------------------------------------------------------------
    def eval_seconds(self) -> float:
        """The time limit of a dev evaluation: three times the slowest this run has seen (its earlier sessions
        included; a third of the cap before any has run), within [4 s, cap]. It is kept small so that the
        reservation a training job holds for its evaluation never starves the jobs near the end of the
        budget."""
        cap = self._eval_cap()
        return min(max(3.0 * max(self.eval_walls, default=cap / 9), 4.0), cap)

    def eval_hold(self) -> float:
        """What a dev evaluation reserves: its limit, the grace period past it, and a second to stop."""
        return self.eval_seconds() + self.grace() + 1.0

    # -- a job's limit and reservation ----------------------------------------------------------------
    async def reserve(self, key: str, meta: dict, wall_seconds: float, training: bool
                      ) -> tuple[Reservation | None, float | None]:
        """The job's reservation and time limit (None, None when the budget cannot give them). A training
        job's reservation also holds its dev evaluation's, handed to the evaluation when training ends."""
        limit = await self._wait_for_budget(key, wall_seconds, training=training)
        if limit is None:
            return None, None
        devices = max(self.gpus, 1) if training else 1
        seconds = (limit + self.grace() + 1.0) * devices + (self.eval_hold() if training else 0.0)
        try:
            return self.ledger.reserve({"job_seconds": seconds, "wall": 0.0}, agent=meta["agent"],
                                       role=meta["role"]), limit
        except BudgetExhausted as exc:
            self.stop_new_jobs()
            self.events.emit(ev.BUDGET_STOP, reason=str(exc), key=key)
            return None, None

    def limit_of(self, hold: Reservation) -> float:
        """The time limit of a job that runs on a reservation kept for it (a training job's evaluation)."""
        return max(min(hold.amounts.get("job_seconds", 0.0), self.ledger.wall_left()) - self.grace() - 1.0, 1.0)

    async def _wait_for_budget(self, key: str, wanted: float, training: bool) -> float | None:
        """The job's limit; while running jobs hold the budget it lacks, wait for them to hand it back."""
        floor = self.floor()
        if wanted < floor and training:
            self.events.emit(ev.JOB_RAISED, key=key, asked=round(wanted, 3), to=floor,
                             reason=f"a job needs at least {MIN_JOB_SECONDS:g} s to train anything")
        turn = object()
        if training:
            self._waiting.append(turn)
        try:
            while True:
                held = self.held()
                if not training or self._waiting[0] is turn:
                    limit = self._limit(key, wanted, training, final=not held)
                    if limit is not None or not held or self.stopping:
                        return limit
                elif self.stopping:
                    return None
                try:  # a kept evaluation share can also come back without a job settling (its model was unusable)
                    await asyncio.wait_for(self.occupancy.returned.wait(), timeout=1.0)
                except TimeoutError:
                    pass
        finally:
            if training:
                self._waiting.remove(turn)
                self.occupancy.handed_back()  # the next in line looks now

    def _limit(self, key: str, wanted: float, training: bool, final: bool = True) -> float | None:
        """The job's own time limit: the request (raised to the useful minimum), within what the budget
        has left. None, with a `budget_stop` row, only when the ledger cannot give the minimum."""
        floor = self.floor()
        devices = max(self.gpus, 1) if training else 1
        scoring = self.eval_hold() if training else 0.0  # a training job's dev evaluation is part of it
        left = (self.ledger.left("job_seconds") - scoring) / devices
        pace = self.pace()  # on the CPU clock: the job and its evaluation end within the wall budget at this pace
        seconds = min(max(wanted, floor), (self.ledger.wall_left() - 2.0 - scoring * pace) / pace, left)
        if training:
            seconds = min(seconds, self.fair_share(left, max(wanted, floor)))
        limit = seconds - self.grace() - 1.0
        need = self.horizon_need() if training else None
        short = need is not None and limit < min(need, wanted - self.grace() - 1.0) - 1e-6
        if training and not final and self.horizon and need is None and limit < UNKNOWN_HORIZON_SHARE * (
                max(wanted, floor) - self.grace() - 1.0):
            return None  # nothing yet says what the horizon costs: wait for the running jobs rather than take a scrap
        if limit < MIN_JOB_SECONDS - 1e-6 or short:
            if not final:
                return None
            self.stop_new_jobs()
            reason = (f"what the budget has left ({max(limit, 0.0):.0f} s) cannot carry a job to its horizon "
                      f"(~{need:.0f} s)" if short and limit >= MIN_JOB_SECONDS - 1e-6
                      else "the budget has no time left for another job")
            self.events.emit(ev.BUDGET_STOP, reason=reason, key=key,
                             job_seconds_left=self.ledger.left("job_seconds"), wall_left=self.ledger.wall_left())
            return None
        return limit

    def fair_share(self, left: float, wanted: float) -> float:
        """Near the end of the job-seconds budget, split what is left between this job and the queued jobs
        that slots about to free up will start, instead of one job taking it all while a slot idles.
        Running recipe jobs stop at 85% of their limit, so what they will hand back counts as left."""
        queued, live = self.occupancy.queued, self.occupancy.live
        if left >= 2 * wanted or not queued:
            return left
        now = time.monotonic()
        refund = sum(max(reserved - limit * RECIPE_STOPS_AT - 2.0, 0.0) for _, limit, reserved in live.values())
        ending = sum(start + limit * RECIPE_STOPS_AT - now < MIN_JOB_SECONDS for start, limit, _ in live.values())
        pieces = 1 + min(ending, queued)
        need = self.horizon_need()
        if need is not None:  # no piece too small to reach the horizon: fewer jobs, each carried to it
            pieces = max(1, min(pieces, int((left + refund) // (need + self.grace() + 1.0))))
        share = (left + refund) / pieces
        return share if share >= 2 * MIN_JOB_SECONDS else left  # never cut the rest into useless pieces
