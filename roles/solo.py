"""Agents that run their own experiments: the solo agent (propose, run, keep if better; autoresearch
style) and the samplers (random search, optuna TPE, the reference recipe) whose trials come from a
sampler instead of a model. Each is a pure function of its context, so a resumed run asks again and gets
the same answer.
"""

from __future__ import annotations

import random

from roles.context import Experiment, SamplerContext, SoloContext
from roles.debugging import diagnose, failure_kind
from roles.schemas import Plan, Proposal, SoloStep
from roles.search import SEED_KNOBS, Picker, anchors, exploit, explore, ranked_configs
from roles.seeding import stable_rng

__all__ = ["solo", "sampler"]


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def solo(ctx: SoloContext) -> SoloStep:
    """Keep the last run if it beats the best; next: the reference/defaults, a fix of a failed run, or a
    1-2 knob move around the best kept config (sometimes a random one); never a tried config."""
    keep, why = _keep_last(ctx)
    if ctx.rounds_left <= 0:
        return SoloStep(keep_last=keep, stop=True, reason=f"{why} No rounds left.")
    rng = stable_rng("solo", ctx.seed, ctx.round, ctx.history, ctx.last)
    tried = [e.config for e in ctx.history] + ([ctx.last.config] if ctx.last else []) + list(ctx.pending)
    picker = Picker(ctx.task.knobs, tried)
    step = _solo_next(ctx, keep, rng, picker)
    if step is None:
        return SoloStep(keep_last=keep, stop=True, reason=f"{why} The knob space is exhausted.")
    return SoloStep(keep_last=keep, next=step, reason=why)


def _keep_last(ctx: SoloContext) -> tuple[bool, str]:
    last = ctx.last
    if last is None:
        return False, "Nothing run yet."
    if last.status != "ok" or last.dev_accuracy is None:
        return False, f"{last.job_id} ended {last.status}: discarded."
    if ctx.best_dev is None or last.dev_accuracy > ctx.best_dev:
        return True, f"{last.job_id} dev {last.dev_accuracy:.3f} beats the best {_fmt(ctx.best_dev)}: kept."
    return False, f"{last.job_id} dev {last.dev_accuracy:.3f} does not beat the best {ctx.best_dev:.3f}: discarded."


def _solo_next(ctx: SoloContext, keep: bool, rng: random.Random, picker: Picker) -> Proposal | None:
    baselines = anchors(ctx.task, picker)
    if baselines:
        return baselines[0]
    last = ctx.last
    if last is not None and failure_kind(last) not in (None, "failed", "cancelled"):
        changes, why = diagnose(last, ctx.task)
        config = picker.take({**last.config, **changes}) if changes else None
        if config is not None:
            return Proposal(config=config, rationale=f"Debug {last.job_id}: {why}.")
    kept = [e for e in ctx.history if e.verdict == "accept"]
    if keep and last is not None:
        kept.append(Experiment(last.job_id, last.config, last.seed, last.status, last.dev_accuracy, "accept"))
    parents = ranked_configs(kept, ctx.task.knobs)
    if parents and rng.random() >= 0.2:
        found = exploit(ctx.task, parents[:1], 1, rng, picker)
        if found:
            return found[0]
    found = explore(ctx.task, 1, rng, picker)
    return found[0] if found else None


# ------------------------------------------------------------------------------------------ samplers

def sampler(ctx: SamplerContext) -> Plan:
    """`n` trials numbered from `number`: the prior (the task card's reference) is trial 0 when there is one;
    the rest come from the setting's method: independent random draws, TPE on the finished trials, or
    the reference recipe alone (one trial)."""
    method = ctx.settings.get("method", "random")
    limit = ctx.settings.get("trials")
    count = ctx.n if limit is None else max(0, min(ctx.n, int(limit) - ctx.number))
    if method == "reference":
        if not ctx.task.reference:
            return Plan(stop=True, reason="The task (or the prior) gives no reference recipe to run.")
        count = max(0, min(count, 1 - ctx.number))
    if count <= 0:
        return Plan(stop=True, reason=f"{ctx.number} trials asked for: the sampler's trial limit is reached.")
    numbers = range(ctx.number, ctx.number + count)
    configs = _tpe(ctx, count) if method == "tpe" else [_random(ctx, n) for n in numbers]
    if ctx.task.reference and ctx.number == 0:
        configs[0] = {k: v for k, v in ctx.task.reference.items() if k not in SEED_KNOBS}
    return Plan(proposals=[Proposal(config=c, rationale=f"{method} trial {n}") for n, c in zip(numbers, configs,
                                                                                               strict=True)],
                reason=f"{count} {method} trial(s) from {ctx.number}")


def _random(ctx: SamplerContext, number: int) -> dict:
    rng = random.Random(f"random-search-{ctx.seed}-{number}")
    return {k.name: k.sample(rng) for k in ctx.task.knobs if k.name not in SEED_KNOBS}


def _tpe(ctx: SamplerContext, count: int) -> list[dict]:
    """optuna's TPE, rebuilt from the finished trials each time (a pure function of the context)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {k.name: _distribution(optuna, k) for k in ctx.task.knobs if k.name not in SEED_KNOBS}
    tpe = optuna.samplers.TPESampler(seed=ctx.seed * 100_003 + ctx.number, constant_liar=True,
                                     n_startup_trials=int(ctx.settings.get("startup_trials", 4)))
    study = optuna.create_study(direction="maximize", sampler=tpe)
    for e in ctx.finished:
        params = {n: e.config[n] for n in space if n in e.config}
        ok = e.status == "ok" and e.dev_accuracy is not None
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={n: space[n] for n in params}, value=e.dev_accuracy if ok else None,
            state=optuna.trial.TrialState.COMPLETE if ok else optuna.trial.TrialState.FAIL))
    return [dict(study.ask(space).params) for _ in range(count)]


def _distribution(optuna, knob):
    d = optuna.distributions
    if knob.kind == "float":
        return d.FloatDistribution(float(knob.low), float(knob.high), log=bool(knob.log))
    if knob.kind == "int":
        return d.IntDistribution(int(knob.low), int(knob.high), log=bool(knob.log))
    return d.CategoricalDistribution((False, True) if knob.kind == "bool" else tuple(knob.choices))
