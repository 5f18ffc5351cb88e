"""Debugging a failed or diverged job from its real result: what went wrong, and the knob changes that
address it (shared by the engineer, the critic and the solo agent)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from roles.context import JobOutcome, Knob, TaskCard
from roles.search import SEED_KNOBS, Config, clip, complete

__all__ = ["failure_kind", "diagnose", "knob_of"]

_NAN = re.compile(r"\bnan\b|\binf\b|non-finite|diverg", re.IGNORECASE)
_OOM = re.compile(r"out of memory|\boom\b|memoryerror|cannot allocate", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed out|timeout|time limit", re.IGNORECASE)


def knob_of(task: TaskCard, name: str) -> Knob | None:
    return next((k for k in task.knobs if k.name == name), None)


def failure_kind(outcome: JobOutcome) -> str | None:
    """What went wrong: nan | oom | timeout | cancelled | failed | diverged (ok, loss blew up) | None."""
    if outcome.status in ("nan", "oom", "timeout", "cancelled"):
        return outcome.status
    if outcome.status == "ok":
        if _diverged(outcome.loss_curve):
            return "diverged"
        return None if outcome.dev_accuracy is not None else "failed"
    for kind, pattern in (("nan", _NAN), ("oom", _OOM), ("timeout", _TIMEOUT)):
        if pattern.search(outcome.error):
            return kind
    return "failed"


def _diverged(curve: Sequence[tuple[int, float]]) -> bool:
    """The train loss is non-finite, or ends well above its minimum (>50% and >0.5 nats)."""
    losses = [loss for _, loss in curve]
    if not losses:
        return False
    if not all(math.isfinite(x) for x in losses):
        return True
    low, last = min(losses), losses[-1]
    return last > max(1.5 * low, low + 0.5)


def diagnose(outcome: JobOutcome, task: TaskCard) -> tuple[Config, str]:
    """The knob changes that address a failed job, and why (shared by the engineer and the critic)."""
    kind = failure_kind(outcome)
    config = complete(outcome.config, task.knobs)
    if kind in ("nan", "diverged"):
        return _lower_lr(config, task, kind)
    if kind == "oom":
        return _scale(config, task, "batch_size", 0.5, "out of memory")
    if kind == "timeout":
        return _scale(config, task, "steps", 0.6, "the job hit its time limit")
    if kind == "cancelled":
        return {}, "the job was cancelled, not broken: retry it unchanged"
    if outcome.status == "ok":
        return {}, "no dev score was reported: retry it unchanged"
    return _safer(config, task, outcome.error or outcome.status)


def _lower_lr(config: Config, task: TaskCard, kind: str) -> tuple[Config, str]:
    changes: Config = {}
    why = "NaN/inf loss" if kind == "nan" else "the train loss diverged"
    lr, warm = knob_of(task, "lr"), knob_of(task, "warmup_frac")
    if lr is not None and "lr" in config:
        changes["lr"] = clip(lr, float(config["lr"]) / 3)
    if warm is not None and "warmup_frac" in config:
        old = float(config["warmup_frac"])
        changes["warmup_frac"] = clip(warm, round(max(2 * old, old + 0.05), 4))
    moved = ", ".join(f"{k} {config[k]:.3g}→{v:.3g}" for k, v in changes.items() if v != config[k])
    return changes, f"{why}: {moved or 'no learning-rate knob to lower'}"


def _scale(config: Config, task: TaskCard, name: str, factor: float, why: str) -> tuple[Config, str]:
    knob = knob_of(task, name)
    if knob is None or name not in config:
        return _safer(config, task, f"{why}, and the task has no {name} knob")
    new = clip(knob, config[name] * factor)
    if new == config[name]:
        return _safer(config, task, f"{why} with {name} already at its minimum")
    return {name: new}, f"{why}: {name} {config[name]}→{new}"


def _safer(config: Config, task: TaskCard, why: str) -> tuple[Config, str]:
    """Back to the known-good recipe (reference, else defaults) for every knob that differs from it."""
    safe = complete(task.reference, task.knobs)
    changes = {k: v for k, v in safe.items() if k not in SEED_KNOBS and config.get(k) != v}
    if not changes:
        return {}, f"{why}; the config already is the reference recipe: retry it unchanged"
    return changes, f"{why}: back to the reference for {', '.join(sorted(changes))}"
