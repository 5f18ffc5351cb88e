"""The shared training loop: reproducible when it ends by its step count, and on time when it does not."""

from __future__ import annotations

import time

import torch

from tasks import training
from tasks.tinylm import CharTokenizer, TinyConfig, new_model

CFG = TinyConfig(n_layers=1, n_heads=2, d_model=32, d_ff=64, ctx=32)


def _data() -> training.TokenData:
    tok = CharTokenizer()
    words = ["abc", "hello", "synth", "team", "reverse", "model", "xyz", "qwerty"]
    pairs = [(f"reverse {w} =", w[::-1]) for w in words * 8]
    return training.encode_pairs(tok.encode, pairs, tok.eos_id, CFG.ctx)


def _run(seconds: float, steps: int, eval_delay: float = 0.0):
    model = new_model(CFG, seed=1)
    evals: list[int] = []

    def evaluate() -> float:
        time.sleep(eval_delay)  # a slower machine
        return float(-sum(p.float().abs().sum() for p in model.parameters()))

    log_rows: list[dict] = []
    settings = training.TrainSettings(lr=3e-3, steps=steps, batch_size=8, seed=3, seconds=seconds, evals=4)
    out = training.train(model, _data(), settings, evaluate=evaluate, log=log_rows.append)
    evals = [r["step"] for r in log_rows if "dev_accuracy" in r]
    lrs = [r["lr"] for r in log_rows if "lr" in r]
    return out, evals, lrs, model


def test_a_run_that_ends_by_its_steps_is_the_same_on_a_slower_machine():
    fast, fast_evals, fast_lrs, a = _run(seconds=120.0, steps=40)
    slow, slow_evals, slow_lrs, b = _run(seconds=120.0, steps=40, eval_delay=0.3)
    assert fast.stopped == slow.stopped == "steps"
    assert fast_evals == slow_evals and fast_lrs == slow_lrs
    assert fast.best_step == slow.best_step
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


class _StepClock:
    """A perf_counter that moves 2 ms per reading: the run's pace, whatever else shares the core."""

    def __init__(self):
        self.now = 1000.0

    def perf_counter(self) -> float:
        self.now += 0.002
        return self.now


def test_a_run_that_would_pass_its_time_bound_decays_by_the_time_fraction(monkeypatch):
    monkeypatch.setattr(training, "time", _StepClock())  # a real clock made this depend on the core's load
    out, evals, lrs, _ = _run(seconds=1.5, steps=1_000_000)
    assert out.stopped == "time_limit" and 20 < out.steps < 1_000_000  # the time bound, not the step count, ended it
    assert lrs[-1] < 0.5 * max(lrs)  # the schedule followed the time fraction, so it decayed
    assert len(evals) >= 3


def test_a_run_that_would_pass_its_time_bound_stops_in_time():
    started = time.perf_counter()
    out, evals, _, _ = _run(seconds=1.5, steps=1_000_000)
    assert out.stopped == "time_limit" and out.steps < 1_000_000
    assert evals and evals[-1] == out.steps  # the last evaluation was reserved inside the bound
    assert time.perf_counter() - started < 1.5 + 30.0  # a bound, not a benchmark: a stuck run would never end


def test_the_deadline_counts_set_up_time_before_the_loop():
    deadline = time.perf_counter() + 1.0
    time.sleep(0.5)  # set-up that already used half the time
    model = new_model(CFG, seed=1)
    settings = training.TrainSettings(steps=1_000_000, batch_size=8, seconds=60.0)
    out = training.train(model, _data(), settings, deadline=deadline)
    assert out.stopped == "time_limit"
    assert out.train_seconds < 0.1 * settings.seconds  # it stopped at the deadline, not after `seconds`
