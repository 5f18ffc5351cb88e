"""The scripted reviews: the critic on a finished job (integrity veto, failure debugging, gains judged
against the noise with the role's `margin`), on a plan before it runs, and on a merge before it becomes
the final model; and the editor's merge decision with its research-log entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from roles.context import CriticContext, EditorContext, Experiment, MergeReviewContext, PlanReviewContext
from roles.debugging import diagnose, failure_kind
from roles.schemas import MergeDecision, Verdict
from roles.search import canonical

__all__ = ["critic", "critic_plan", "critic_merge", "editor", "labelled", "MIN_NOISE"]

MIN_NOISE = 0.02  # the smallest seed-to-seed std the critic assumes (small dev splits are noisy)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


# ------------------------------------------------------------------------------------------ labels

def labelled(verdict: Verdict, settings: Mapping[str, Any], **facts: bool) -> Verdict:
    """The verdict with the first label of `settings` (file order) whose `means` is its decision and whose
    condition (`if`, roles.settings.LABEL_CONDITIONS) holds; unchanged when none applies."""
    for name, spec in (settings.get("labels") or {}).items():
        if spec["means"] == verdict.decision and (spec["if"] == "always" or facts.get(spec["if"])):
            return verdict.model_copy(update={"label": name})
    return verdict


def _against(dev: float | None, best: float | None, noise: float, settings: Mapping[str, Any]) -> dict[str, bool]:
    """beats_best / within_noise of a dev against the best (no best yet: any score beats it)."""
    if dev is None:
        return {"beats_best": False, "within_noise": False}
    if best is None:
        return {"beats_best": True, "within_noise": False}
    margin = float(settings.get("margin", 2.0))
    return {"beats_best": dev > best, "within_noise": abs(dev - best) <= margin * max(noise, MIN_NOISE)}


# ------------------------------------------------------------------------------------------ a job result

def critic(ctx: CriticContext) -> Verdict:
    """The verdict on a job result, with the first of the role's labels that applies."""
    verdict = _critic(ctx)
    o, best = ctx.outcome, ctx.best_dev
    failed = bool(failure_kind(o)) or o.dev_accuracy is None
    return labelled(verdict, ctx.settings, failed=failed, flagged=bool(verdict.flags),
                    **_against(None if failed else o.dev_accuracy, best, ctx.noise, ctx.settings))


def _critic(ctx: CriticContext) -> Verdict:
    """Veto integrity flags (the harness's, and the diff's: roles.diffrules); revise failures within the
    bound; accept a gain beyond `margin` x noise (2 by default), confirm a marginal one with a second seed,
    reject the rest."""
    from roles.diffrules import diff_flags

    o = ctx.outcome
    flags = list(ctx.flags) + diff_flags(ctx.diff)
    if flags:
        return Verdict(decision="reject", flags=flags, reasons=[f"Integrity veto on {o.job_id}: {'; '.join(flags)}."])
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
    margin = float(ctx.settings.get("margin", 2.0))
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
    if gain > margin * noise:
        return Verdict(decision="accept", reasons=[f"Dev {dev:.3f} beats best {best:.3f} by {gain:+.3f}, more "
                                                   f"than {margin:g}x noise ({noise:.3f})."] + notes)
    if gain > 0 and ctx.revisions_left > 0 and ctx.settings.get("second_seed", True):
        fix = {"seed": o.seed + 1000 * (len(ctx.confirmations) + 1)}
        return Verdict(decision="revise", second_seed=True, fix=fix,
                       reasons=[f"Marginal gain {gain:+.3f} within {margin:g}x noise ({noise:.3f}): confirm "
                                f"with a second seed."] + notes)
    tail = "a marginal gain with no revisions left to confirm it" if gain > 0 else "not better"
    return Verdict(decision="reject", reasons=[f"Dev {dev:.3f} vs best {best:.3f} ({gain:+.3f}): {tail}."] + notes)


# ------------------------------------------------------------------------------------------ a plan

def critic_plan(ctx: PlanReviewContext) -> Verdict:
    """The verdict on a plan (a label's `if` can only be `always` here: a plan has no dev score yet)."""
    return labelled(_critic_plan(ctx), ctx.settings)


def _critic_plan(ctx: PlanReviewContext) -> Verdict:
    """Revise a plan that repeats tried configs or explores less than `min_explore` (a proposal explores
    when it differs from every tried config in two or more knobs); otherwise accept it."""
    tried = {canonical(c, ctx.task.knobs) for c in ctx.tried}
    repeats = [i for i, c in enumerate(ctx.proposals) if canonical(c, ctx.task.knobs) in tried]
    far = sum(_explores(c, ctx) for c in ctx.proposals)
    need = int(ctx.settings.get("min_explore", 0) or 0)
    reasons, fix = [], {}
    if repeats:
        reasons.append(f"proposals {repeats} repeat experiments already run or planned")
        fix["drop"] = repeats
    if far < need:
        reasons.append(f"only {far} of {len(ctx.proposals)} proposals explore (at least {need} wanted)")
        fix["explore"] = need
    if not ctx.proposals:
        return Verdict(decision="reject", reasons=["the plan proposes nothing"])
    if reasons and ctx.revisions_left > 0:
        return Verdict(decision="revise", reasons=reasons, fix=fix)
    if repeats and len(repeats) == len(ctx.proposals):
        return Verdict(decision="reject", reasons=reasons + ["no revisions left"])
    tail = f" ({'; '.join(reasons)}; no revisions left)" if reasons else ""
    return Verdict(decision="accept", reasons=[f"{len(ctx.proposals)} proposals, {far} exploring{tail}."])


def _explores(config: Mapping[str, Any], ctx: PlanReviewContext) -> bool:
    mine = dict(canonical(config, ctx.task.knobs))
    for other in ctx.tried:
        theirs = dict(canonical(other, ctx.task.knobs))
        if sum(mine.get(k) != theirs.get(k) for k in set(mine) | set(theirs)) < 2:
            return False
    return True


# ------------------------------------------------------------------------------------------ a merge

def critic_merge(ctx: MergeReviewContext) -> Verdict:
    """The verdict on a merge, labelled against the current final model's dev."""
    verdict = _critic_merge(ctx)
    return labelled(verdict, ctx.settings, failed=ctx.candidate_dev is None,
                    **_against(ctx.candidate_dev, ctx.current_dev, ctx.noise, ctx.settings))


def _critic_merge(ctx: MergeReviewContext) -> Verdict:
    """Accept a merge that does not lose to the current final model by more than `merge_tolerance`; a soup
    that loses to its best member goes back for the best member alone; anything worse is rejected."""
    if ctx.candidate_dev is None:
        return Verdict(decision="reject", reasons=["the candidate has no dev score: nothing to sign off"])
    if ctx.current_dev is None:
        return Verdict(decision="accept", reasons=[f"first final model: dev {ctx.candidate_dev:.3f}"])
    tolerance = float(ctx.settings.get("merge_tolerance", 0.0) or 0.0)
    if ctx.candidate_dev >= ctx.current_dev - tolerance:
        return Verdict(decision="accept", reasons=[f"dev {ctx.candidate_dev:.3f} vs the current "
                                                   f"{ctx.current_dev:.3f} (tolerance {tolerance:g})"])
    best_member = max((d for d in ctx.member_devs if d is not None), default=None)
    if ctx.policy != "best" and best_member is not None and best_member > ctx.candidate_dev and ctx.revisions_left:
        return Verdict(decision="revise", fix={"policy": "best"},
                       reasons=[f"the {ctx.policy} ({ctx.candidate_dev:.3f}) loses to its best member "
                                f"({best_member:.3f}): keep the best member alone"])
    return Verdict(decision="reject", reasons=[f"dev {ctx.candidate_dev:.3f} is below the current final model's "
                                               f"{ctx.current_dev:.3f}: the final model stays"])


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
