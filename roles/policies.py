"""The built-in roles' scripted (offline) policies: plain, deterministic functions from a role's typed
context to its typed output that make research decisions on real job results — search the knob space,
debug failed jobs, review gains against noise, merge checkpoints, and write the research log.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from roles.context import (
    CriticContext,
    DirectorContext,
    EditorContext,
    EngineerContext,
    Experiment,
    JobOutcome,
    KnobInfo,
    SoloContext,
    TaskCard,
)
from roles.schemas import JobSpec, MergeDecision, Plan, Proposal, SoloStep, Verdict
from roles.search import (
    SEED_KNOBS,
    Config,
    Picker,
    anchors,
    clip,
    complete,
    exploit,
    explore,
    explore_count,
    ranked_configs,
    stable_rng,
)

MIN_NOISE = 0.02  # the smallest seed-to-seed std the critic assumes (small dev splits are noisy)
_NAN = re.compile(r"\bnan\b|\binf\b|non-finite|diverg", re.IGNORECASE)
_OOM = re.compile(r"out of memory|\boom\b|memoryerror|cannot allocate", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed out|timeout|time limit", re.IGNORECASE)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def _knob(task: TaskCard, name: str) -> KnobInfo | None:
    return next((k for k in task.knobs if k.name == name), None)


# ------------------------------------------------------------------------------------------ director

def director(ctx: DirectorContext) -> Plan:
    """Explore (reference, defaults, a Latin-hypercube spread), then exploit around the best accepted
    configs; never repeats a tried config; stops on plateau, rounds or budget."""
    reason = _stop_reason(ctx)
    if reason:
        return Plan(stop=True, reason=reason)
    if ctx.n_proposals <= 0:
        return Plan(reason=f"Round {ctx.round}: no engineer free, nothing to propose.")
    rng = stable_rng("director", ctx.seed, ctx.round, ctx.history)
    picker = Picker(ctx.task.knobs, [e.config for e in ctx.history])
    proposals = anchors(ctx.task, picker)[: ctx.n_proposals]
    parents = ranked_configs(ctx.history, ctx.task.knobs)
    left = ctx.n_proposals - len(proposals)
    n_explore = left if not parents else explore_count(left, ctx.plateau, rng)
    exploited = exploit(ctx.task, parents, left - n_explore, rng, picker) if parents else []
    explored = explore(ctx.task, ctx.n_proposals - len(proposals) - len(exploited), rng, picker)
    proposals += exploited + explored
    if not proposals:
        return Plan(stop=True, reason="The knob space is exhausted: every configuration has been tried.")
    best = f"best dev {_fmt(ctx.best_dev)}" + (f" ({parents[0][2]})" if parents else "")
    return Plan(proposals=proposals, reason=f"Round {ctx.round}: {len(exploited)} exploit and "
                f"{len(proposals) - len(exploited)} explore/baseline proposals; {best}.")


def _stop_reason(ctx: DirectorContext) -> str:
    if ctx.rounds_left <= 0:
        return f"No rounds left; best dev {_fmt(ctx.best_dev)}."
    if ctx.plateau_limit > 0 and ctx.plateau >= ctx.plateau_limit:
        return (f"Plateau: the best dev {_fmt(ctx.best_dev)} has not improved for {ctx.plateau} rounds "
                f"(limit {ctx.plateau_limit}).")
    spent = sorted(k for k, v in ctx.budget_left.items() if v <= 0)
    if spent:
        known = f"; best dev {_fmt(ctx.best_dev)}" if ctx.best_dev is not None else ""
        return f"Budget exhausted ({', '.join(spent)}){known}."
    return ""


# ------------------------------------------------------------------------------------------ debugging

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
    lr, warm = _knob(task, "lr"), _knob(task, "warmup_frac")
    if lr is not None and "lr" in config:
        changes["lr"] = clip(lr, float(config["lr"]) / 3)
    if warm is not None and "warmup_frac" in config:
        old = float(config["warmup_frac"])
        changes["warmup_frac"] = clip(warm, round(max(2 * old, old + 0.05), 4))
    moved = ", ".join(f"{k} {config[k]:.3g}→{v:.3g}" for k, v in changes.items() if v != config[k])
    return changes, f"{why}: {moved or 'no learning-rate knob to lower'}"


def _scale(config: Config, task: TaskCard, name: str, factor: float, why: str) -> tuple[Config, str]:
    knob = _knob(task, name)
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


# ------------------------------------------------------------------------------------------ engineer

def engineer(ctx: EngineerContext) -> JobSpec:
    """The proposal as a legal job; after a failure, the previous attempt debugged; the critic's fix last."""
    knobs = {k.name: k for k in ctx.task.knobs}
    base = {**ctx.proposal, **(ctx.last.config if ctx.last else {})}
    config, notes = complete(base, ctx.task.knobs), _clip_notes(base, knobs)
    if ctx.last is not None and (ctx.last.status != "ok" or not ctx.fix) and failure_kind(ctx.last):
        changes, why = diagnose(ctx.last, ctx.task)
        config.update(changes)
        notes.append(f"{ctx.last.job_id} {ctx.last.status}: {why}")
    for name, value in sorted(ctx.fix.items()):
        if name in knobs and name not in SEED_KNOBS:
            config[name] = clip(knobs[name], value)
    seed = _job_seed(ctx)
    if ctx.fix:
        notes.append(f"applied the critic's fix {dict(sorted(ctx.fix.items()))}")
    for name in SEED_KNOBS & knobs.keys():
        config[name] = _seed_in_range(knobs[name], seed)
    note = "; ".join(notes) or f"as proposed ({ctx.rationale or 'no rationale'})"
    return JobSpec(config=config, seed=seed, wall_seconds=ctx.wall_seconds, note=note)


def _clip_notes(base: Mapping[str, Any], knobs: Mapping[str, KnobInfo]) -> list[str]:
    notes = []
    unknown = sorted(k for k in base if k not in knobs)
    if unknown:
        notes.append(f"dropped unknown knobs {', '.join(unknown)}")
    for name, value in base.items():
        if name in knobs and value is not None and clip(knobs[name], value) != value:
            notes.append(f"clipped {name} {value!r}→{clip(knobs[name], value)!r} into the task's range")
    return notes


def _job_seed(ctx: EngineerContext) -> int:
    for source in (ctx.fix, ctx.proposal):
        if "seed" in source:
            return int(source["seed"])
    return ctx.seed


def _seed_in_range(knob: KnobInfo, seed: int) -> Any:
    if knob.kind != "int" or knob.low is None or knob.high is None:
        return clip(knob, seed)
    low, high = math.ceil(knob.low), math.floor(knob.high)
    return low + (seed - low) % (high - low + 1)


# ------------------------------------------------------------------------------------------ critic

def critic(ctx: CriticContext) -> Verdict:
    """Veto integrity flags; revise failures within the bound; accept a gain beyond 2x noise, confirm a
    marginal one with a second seed, reject the rest."""
    o = ctx.outcome
    if ctx.flags:
        return Verdict(decision="reject", flags=list(ctx.flags),
                       reasons=[f"Integrity veto on {o.job_id}: {'; '.join(ctx.flags)}."])
    kind = failure_kind(o)
    if kind and (kind != "diverged" or o.dev_accuracy is None):
        return _review_failure(ctx, kind)
    notes = _overfit_notes(ctx)
    if kind == "diverged" and ctx.revisions_left > 0:
        fix, why = diagnose(o, ctx.task)
        return Verdict(decision="revise", fix=fix, reasons=[f"{o.job_id} dev {_fmt(o.dev_accuracy)} but {why}."]
                       + notes)
    return _judge_gain(ctx, notes)


def _review_failure(ctx: CriticContext, kind: str) -> Verdict:
    o = ctx.outcome
    fix, why = diagnose(o, ctx.task)
    what = f"{o.job_id} ended {o.status}" + (f" ({o.error.strip()[:120]})" if o.error.strip() else "")
    if o.status == "ok":
        what, why = f"{o.job_id} ended ok but reported no dev accuracy", "retry to get a score"
    if ctx.revisions_left > 0:
        return Verdict(decision="revise", fix=fix, reasons=[f"{what}; {why}."])
    return Verdict(decision="reject", reasons=[f"{what}; no revisions left."])


def _overfit_notes(ctx: CriticContext) -> list[str]:
    curve = ctx.outcome.dev_curve
    if len(curve) < 3:
        return []
    peak_step, peak = max(curve, key=lambda p: (p[1], -p[0]))
    last = curve[-1][1]
    if peak_step == curve[-1][0] or last >= peak - max(0.05, 2 * ctx.noise):
        return []
    return [f"Overfitting: dev peaked at {peak:.3f} (step {peak_step}) and ended at {last:.3f}; the best-dev "
            f"checkpoint is kept, so about {int(peak_step * 1.25)} steps would do."]


def _judge_gain(ctx: CriticContext, notes: list[str]) -> Verdict:
    o, best = ctx.outcome, ctx.best_dev
    dev, noise = float(o.dev_accuracy), max(ctx.noise, MIN_NOISE)
    if best is None:
        ok = dev > 1e-9
        why = f"first scored result: dev {dev:.3f}" + ("" if ok else ", no better than chance at zero")
        return Verdict(decision="accept" if ok else "reject", reasons=[why.capitalize() + "."] + notes)
    seeds = [dev] + [c.dev_accuracy for c in ctx.confirmations if c.status == "ok" and c.dev_accuracy is not None]
    if len(seeds) > 1:
        mean = sum(seeds) / len(seeds)
        verdict = "accept" if mean > best else "reject"
        return Verdict(decision=verdict, reasons=[f"Mean dev over {len(seeds)} seeds {mean:.3f} vs best "
                                                  f"{best:.3f}: {'beats' if mean > best else 'does not beat'} it."] + notes)
    gain = dev - best
    if gain > 2 * noise:
        return Verdict(decision="accept", reasons=[f"Dev {dev:.3f} beats best {best:.3f} by {gain:+.3f}, more "
                                                   f"than 2x noise ({noise:.3f})."] + notes)
    if gain > 0 and ctx.revisions_left > 0:
        fix = {"seed": o.seed + 1000 * (len(ctx.confirmations) + 1)}
        return Verdict(decision="revise", second_seed=True, fix=fix,
                       reasons=[f"Marginal gain {gain:+.3f} within 2x noise ({noise:.3f}): confirm with a "
                                f"second seed."] + notes)
    tail = "a marginal gain with no revisions left to confirm it" if gain > 0 else "not better"
    return Verdict(decision="reject", reasons=[f"Dev {dev:.3f} vs best {best:.3f} ({gain:+.3f}): {tail}."] + notes)


# ------------------------------------------------------------------------------------------ editor

def editor(ctx: EditorContext) -> MergeDecision:
    """Best: the top checkpoint; soup: all accepted; greedy_soup: all accepted in order, best first
    (the runtime keeps a candidate only if the soup's dev does not drop)."""
    policy = ctx.policy if ctx.policy in ("best", "soup", "greedy_soup") else "best"
    ranked = sorted((e for e in ctx.accepted if e.dev_accuracy is not None), key=lambda e: -e.dev_accuracy)
    if not ranked:
        members, expected = list(ctx.current), ctx.current_dev
    else:
        members = [ranked[0].job_id] if policy == "best" else [e.job_id for e in ranked]
        expected = ranked[0].dev_accuracy
    return MergeDecision(policy=policy, members=members, expected_dev=expected,
                         log=_research_log(ctx, policy, ranked, members))


def _research_log(ctx: EditorContext, policy: str, ranked: list[Experiment], members: list[str]) -> str:
    if not ranked:
        kept = ", ".join(ctx.current) or "the base model"
        return f"Round {ctx.round}: no checkpoint accepted yet; the final model stays {kept}."
    new = [e for e in ranked if e.round == ctx.round]
    fresh = ", ".join(f"{e.job_id} dev {e.dev_accuracy:.3f}" for e in new) or "none"
    top = ranked[0]
    knobs = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in top.config.items())
    lines = [f"Round {ctx.round}: {len(ranked)} accepted checkpoint(s); new this round: {fresh}.",
             f"Best: {top.job_id} dev {top.dev_accuracy:.3f} ({knobs}).", _merge_line(policy, members)]
    if ctx.current_dev is not None and list(ctx.current) != members:
        gain = top.dev_accuracy - ctx.current_dev
        margin = " (within noise)" if abs(gain) <= max(ctx.noise, MIN_NOISE) else ""
        lines.append(f"Replaces {', '.join(ctx.current)} (dev {ctx.current_dev:.3f}): {gain:+.3f}{margin}.")
    elif list(ctx.current) == members:
        lines.append("The final model is unchanged.")
    return " ".join(lines)


def _merge_line(policy: str, members: list[str]) -> str:
    if policy == "best":
        return f"Policy best: the final model is {members[0]}."
    if policy == "soup":
        return f"Policy soup: a uniform weight soup of {', '.join(members)}."
    return (f"Policy greedy_soup: candidates in order {', '.join(members)}; each joins the soup only if the "
            f"dev score does not drop.")


# ------------------------------------------------------------------------------------------ solo

def solo(ctx: SoloContext) -> SoloStep:
    """Keep the last run if it beats the best; next: the reference/defaults, a fix of a failed run, or a
    1-2 knob move around the best kept config (sometimes a random one); never a tried config."""
    keep, why = _keep_last(ctx)
    if ctx.rounds_left <= 0:
        return SoloStep(keep_last=keep, stop=True, reason=f"{why} No rounds left.")
    rng = stable_rng("solo", ctx.seed, ctx.round, ctx.history, ctx.last)
    tried = [e.config for e in ctx.history] + ([ctx.last.config] if ctx.last else [])
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


POLICIES: dict[str, Callable[[Any], Any]] = {
    "director": director,
    "engineer": engineer,
    "critic": critic,
    "editor": editor,
    "solo": solo,
}

__all__ = ["director", "engineer", "critic", "editor", "solo", "POLICIES", "MIN_NOISE", "diagnose",
           "failure_kind"]
