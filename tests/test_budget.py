"""The budget ledger: reservations are hard limits, spend is attributed, --budget parses."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.errors import BudgetExhausted
from team.engine.records.ledger import Ledger, parse_budget


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_reserve_settle_and_attribution():
    ledger = Ledger(limits={"tokens": 1000, "job_seconds": 100})
    r = ledger.reserve({"tokens": 600}, agent="engineer[0]", role="engineer")
    with pytest.raises(BudgetExhausted) as info:
        ledger.reserve({"tokens": 500}, agent="critic", role="critic")
    assert info.value.resource == "tokens" and info.value.left == pytest.approx(400)
    ledger.settle(r, {"tokens": 250})
    assert ledger.left("tokens") == pytest.approx(750)
    ledger.reserve({"tokens": 500}, agent="critic", role="critic")
    assert ledger.by_role["engineer"]["tokens"] == 250
    assert ledger.by_agent["engineer[0]"]["tokens"] == 250


def test_wall_clock_is_checked_before_work():
    clock = Clock()
    ledger = Ledger(limits={"wall": 10}, clock=clock)
    ledger.reserve({"wall": 0})
    clock.now = 10.5
    with pytest.raises(BudgetExhausted, match="wall"):
        ledger.reserve({"wall": 0})
    assert ledger.exhausted() == "wall"


def test_resumed_wall_clock_continues():
    clock = Clock()
    ledger = Ledger(limits={"wall": 60}, wall_offset=50, clock=clock)
    assert ledger.wall_left() == pytest.approx(10)


@settings(max_examples=200, deadline=None)
@given(limit=st.floats(1, 1000), asks=st.lists(st.tuples(st.floats(0, 300), st.floats(0, 1.5)), max_size=40))
def test_spend_never_exceeds_the_limit(limit, asks):
    ledger = Ledger(limits={"job_seconds": limit})
    for want, used_frac in asks:
        try:
            r = ledger.reserve({"job_seconds": want})
        except BudgetExhausted:
            continue
        ledger.settle(r, {"job_seconds": min(want, want * used_frac)})
        assert ledger.spent["job_seconds"] <= limit + 1e-6


def test_parse_budget():
    base = {"wall": 600.0, "job_seconds": 360.0, "tokens": 1e6}
    assert parse_budget("3m", base) == {"wall": 180.0, "job_seconds": 108.0, "tokens": 1e6}
    assert parse_budget("tokens=5000,usd=0.5,job_seconds=2m", base)["job_seconds"] == 120.0
    with pytest.raises(ValueError, match="unknown budget key"):
        parse_budget("gpus=3", base)


def test_the_last_job_seconds_are_split_between_the_slots_that_will_want_them(tmp_path):
    import time

    from team.engine.records.events import EventLog
    from team.engine.work.workshop import Workshop

    work = Workshop(executor=None, prepared=None, ledger=Ledger({"job_seconds": 150}), events=EventLog(tmp_path / "e"),
                    jobs_dir=tmp_path, capacity=2)
    assert work.share.fair_share(left=150, wanted=57) == 150  # far from the end: a full job
    assert work.share.fair_share(left=46, wanted=57) == 46  # nobody queued: this job may take it all
    work.share.occupancy.queued = 1
    assert work.share.fair_share(left=46, wanted=57) == 46  # the other slot's job is far from done: it will not ask
    # the other slot's job (limit 54 s, 57 reserved) stops at 85% of its limit, one second from now
    work.share.occupancy.live["other"] = (time.monotonic() - 0.85 * 54 + 1.0, 54.0, 57.0)
    refund = 57.0 - 0.85 * 54 - 2.0
    assert work.share.fair_share(left=46, wanted=57) == pytest.approx((46 + refund) / 2)
    assert work.share.fair_share(left=20, wanted=57) == 20  # halves would be too short to be worth a job


def test_a_handover_keeps_the_follow_ups_share_and_never_more_than_was_left():
    ledger = Ledger(limits={"job_seconds": 30})
    job = ledger.reserve({"job_seconds": 25}, agent="engineer", role="engineer")  # 20 to train, 5 to score
    with pytest.raises(BudgetExhausted):
        ledger.reserve({"job_seconds": 6})  # what the job's evaluation needs is not anyone else's
    follow = ledger.handover(job, {"job_seconds": 12}, {"job_seconds": 5}, role="harness")
    assert ledger.spent["job_seconds"] == 12 and ledger.left("job_seconds") == pytest.approx(13)
    assert follow.role == "harness" and follow in ledger.open_reservations() and job not in ledger.open_reservations()
    ledger.settle(follow, {"job_seconds": 2})
    assert ledger.spent["job_seconds"] == 14 and ledger.by_role["harness"]["job_seconds"] == 2
    over = ledger.reserve({"job_seconds": 10})
    kept = ledger.handover(over, {"job_seconds": 8}, {"job_seconds": 5})  # ran past what it left for scoring
    assert kept.amounts["job_seconds"] == 2 and ledger.left("job_seconds") == pytest.approx(30 - 14 - 8 - 2)


def test_no_job_is_started_that_the_budget_cannot_score(tmp_path):
    from tests.engine_rig import rows_of, run_scripted

    # two engineers at once; a job (and a dev evaluation) takes 5 s and reserves the 9 s minimum: two jobs
    # fit in the budget, but not with their two evaluations
    run, result = run_scripted(tmp_path, "pair", seconds=5.0, budget="wall=60s,job_seconds=20s", job_seconds=6)
    rows = rows_of(run)
    trained = [r for r in rows if r["event"] == "job_finished" and r.get("kind") != "dev_eval" and r["status"] == "ok"]
    assert trained, "no job finished"
    unscored = [r for r in rows if r["event"] == "node_scored" and r["harness_dev"] is None]
    assert not unscored, f"{len(unscored)} of {len(trained)} finished jobs were never scored: {unscored[0]['flags']}"
    assert not any(r["event"] == "budget_stop" and str(r.get("key", "")).endswith(":dev") for r in rows)
    assert result["final_members"] and result["budget_used"]["job_seconds"] <= 20 + 1e-6


@pytest.mark.parametrize("seconds, job_seconds, charge, budget", [(0.2, 10, 0.6, 60), (0.2, 10, 0.6, 100),
                                                                  (1.5, 20, 0.3, 50)])
def test_no_job_or_round_is_refused_for_budget_that_running_jobs_will_hand_back(tmp_path, seconds, job_seconds,
                                                                                 charge, budget):
    from tests.engine_rig import rows_of, run_scripted

    # jobs use a share of their limit: what they reserve but do not use comes back when they settle, and a job
    # (or the director's next round) that the budget can give once it has come back is not refused before
    run, result = run_scripted(tmp_path, "research", seconds=seconds, charge=charge, job_seconds=job_seconds,
                               budget=f"wall=60s,job_seconds={budget}s")
    spent, director_stopped = 0.0, None
    for row in rows_of(run):
        if row["event"] == "budget" and row.get("change") == "settle":
            spent = row["spent"]["job_seconds"]
        if row["event"] == "budget_stop":
            held = budget - spent - row["job_seconds_left"]
            assert held < 1e-3, f"a job was refused while {held:.1f} job-seconds were held, not spent: {row}"
        if row["event"] == "model_call" and row.get("handler") == "plan" and (row.get("output") or {}).get("stop"):
            director_stopped = row["output"]["reason"]
        if row["event"] == "job_finished" and director_stopped and "Budget" in director_stopped:
            raise AssertionError(f"the director stopped ({director_stopped}) while {row['key']} still ran")
    assert result["jobs"]["ok"] >= 3
