"""The built-in roles' scripted (offline) policies: plain, deterministic functions from a role's typed
context to its typed output that make research decisions on real job results. This module holds the
planners (director, sub-director) and the engineer, and the registry of every policy by name; reviews
(critic, editor) and self-running agents (solo, samplers) have modules of their own.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from roles.coding import choose_operator, code_patch
from roles.context import DirectorContext, EngineerContext, Knob, TaskCard
from roles.debugging import diagnose, failure_kind
from roles.reviews import MIN_NOISE, critic, critic_merge, critic_plan, editor
from roles.schemas import JobSpec, Plan, Proposal
from roles.search import (
    SEED_KNOBS,
    Picker,
    anchors,
    clip,
    complete,
    default_value,
    exploit,
    explore,
    explore_count,
    ranked_configs,
)
from roles.seeding import stable_rng
from roles.solo import sampler, solo

__all__ = ["director", "subdirector", "engineer", "critic", "critic_plan", "critic_merge", "editor", "solo",
           "sampler", "POLICIES", "MIN_NOISE", "diagnose", "failure_kind"]


def focused(task: TaskCard, focus: Sequence[str] | None, base: Mapping[str, Any]) -> TaskCard:
    """The task card with every knob outside `focus` frozen at its value in `base` (a one-choice knob), so
    that search moves only the focus knobs; the card itself when there is no focus."""
    if not focus:
        return task
    from dataclasses import replace

    def freeze(k: Knob) -> Knob:
        value = base.get(k.name, default_value(k))
        return replace(k, kind="choice", low=None, high=None, log=False, choices=(value,), default=value)

    knobs = tuple(k if k.name in focus or k.name in SEED_KNOBS else freeze(k) for k in task.knobs)
    return replace(task, knobs=knobs)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


# ------------------------------------------------------------------------------------------ director

def director(ctx: DirectorContext) -> Plan:
    """Explore (reference, defaults, a Latin-hypercube spread), then exploit around the best accepted
    configs; never repeats a tried config; stops on plateau, rounds or budget."""
    reason = _stop_reason(ctx)
    if reason:
        return Plan(stop=True, reason=reason)
    if ctx.n_proposals <= 0:
        return Plan(reason=f"Round {ctx.round}: no engineer free, nothing to propose.")
    rng = stable_rng("director", ctx.seed, ctx.round, ctx.history, ctx.settings, ctx.fix, ctx.agent)
    task = focused(ctx.task, ctx.settings.get("focus"), complete(ctx.task.reference, ctx.task.knobs))
    # another lab's experiments are not repeated, unless the team file asks for replications
    claimed = _claimed(ctx)
    picker = Picker(task.knobs, [e.config for e in ctx.history] + [c["config"] for c in claimed])
    proposals = anchors(task, picker)[: ctx.n_proposals]
    parents = ranked_configs(ctx.history, task.knobs)
    left = ctx.n_proposals - len(proposals)
    n_explore = left if not parents else _explore_share(ctx, left, rng)
    exploited = exploit(task, parents, left - n_explore, rng, picker) if parents else []
    explored = explore(task, ctx.n_proposals - len(proposals) - len(exploited), rng, picker,
                       broad=(ctx.settings.get("explore") or 0.0) >= 0.5)
    exploited, code = _on_the_best_program(ctx, exploited, parents, rng)
    probe = _code_probe(ctx, proposals[0], rng) if not code and not parents and explored and proposals else None
    if probe is not None:
        explored[-1], code = probe, 1
    proposals += exploited + explored
    if not proposals:
        return Plan(stop=True, reason="The knob space is exhausted: every configuration has been tried.")
    best = f"best dev {_fmt(ctx.best_dev)}" + (f" ({parents[0][2]})" if parents else "")
    return Plan(proposals=proposals, reason=f"Round {ctx.round}: {len(exploited)} exploit ({code} changing code) and "
                f"{len(proposals) - len(exploited)} explore/baseline proposals; {best}.")


def _on_the_best_program(ctx: DirectorContext, exploited: list[Proposal], parents: list, rng: random.Random
                         ) -> tuple[list[Proposal], int]:
    """Exploit proposals run on the best accepted result's program (its code changes kept), and one of them
    becomes a code change: an operator that program does not carry and no earlier experiment tried on it."""
    best = next((e for e in ctx.history if parents and e.job_id == parents[0][2]), None)
    if best is None or not best.node or not exploited:
        return exploited, 0
    out = [p.model_copy(update={"node": best.node}) for p in exploited]
    tried = {op for e in ctx.history if e.node == best.node or e.node and set(best.operators) < set(e.operators)
             for op in e.operators} | {c["operator"] for c in _claimed(ctx) if c["node"] == best.node}
    name = choose_operator(tuple(tried | set(best.operators)), rng)
    if name is None:
        return out, 0
    config = {k: v for k, v in best.config.items() if k not in SEED_KNOBS}
    out[-1] = Proposal(config=config, node=best.node, operator=name,
                       rationale=f"Improve {best.job_id} (dev {_fmt(best.dev_accuracy)}): its program with {name}.")
    return out, 1


def _code_probe(ctx: DirectorContext, anchor: Proposal, rng: random.Random) -> Proposal | None:
    """With nothing to exploit yet (no result, or a round planned ahead of its predecessor's results), one
    explore proposal changes code: the anchor's config (the prior) on the starter with an operator that no
    experiment in the history carries yet."""
    claimed = {c["operator"] for c in _claimed(ctx) if c["node"] == "starter"}
    name = choose_operator(tuple({op for e in ctx.history for op in e.operators} | claimed), rng)
    if name is None:
        return None
    return Proposal(config=dict(anchor.config), node="starter", operator=name,
                    rationale=f"Explore code: the baseline's program with {name}.")


def _claimed(ctx: DirectorContext) -> list:
    """What other planners of the team proposed (not to repeat), none for a replication lab."""
    return [] if ctx.settings.get("replicate") else list(ctx.claimed)


def _explore_share(ctx: DirectorContext, n: int, rng: random.Random) -> int:
    """How many of `n` proposals explore: the setting's share, else more on a plateau; a plan critic's
    `fix: {explore: k}` raises it to at least k."""
    share = ctx.settings.get("explore")
    count = explore_count(n, ctx.plateau, rng) if share is None else min(n, math.floor(n * share + rng.random()))
    return min(n, max(count, int(ctx.fix.get("explore", 0) or 0)))


def subdirector(ctx: DirectorContext) -> Plan:
    """Plan within the parent's share. Without a focus the parent's configs go on as they are (more
    engineers than configs: explore for the rest); with one, each parent config keeps its other knobs and
    this director re-chooses only the focus knobs around it. Never repeats a tried config."""
    reason = _stop_reason(ctx)
    if reason or not ctx.share:
        return Plan(stop=True, reason=reason or "The parent director gave no experiments to plan.")
    rng = stable_rng("subdirector", ctx.seed, ctx.round, ctx.history, ctx.share, ctx.settings)
    focus = ctx.settings.get("focus")
    picker, out = Picker(ctx.task.knobs, [e.config for e in ctx.history]), []
    for i in range(ctx.n_proposals):
        parent = complete(ctx.share[i % len(ctx.share)], ctx.task.knobs)
        task = focused(ctx.task, focus, parent)
        kept = picker.take(parent) if not focus and i < len(ctx.share) else None
        found = [Proposal(config=kept, rationale="As the parent planned it.")] if kept else \
            exploit(task, [(parent, 0.0, "the parent's plan")], 1, rng, picker) or explore(task, 1, rng, picker)
        out += found[:1]
    if not out:
        return Plan(stop=True, reason="Every variant of the parent's share within the focus has been tried.")
    moved = ", ".join(focus) if focus else "no knob (no focus)"
    return Plan(proposals=out, reason=f"Round {ctx.round}: {len(out)} proposals from the parent's "
                f"{len(ctx.share)}, moving {moved}.")


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
    seed = _job_seed(ctx) + int(ctx.settings.get("seed_offset", 0) or 0)
    if ctx.fix:
        notes.append(f"applied the critic's fix {dict(sorted(ctx.fix.items()))}")
    for name in SEED_KNOBS & knobs.keys():
        config[name] = _seed_in_range(knobs[name], seed)
    patch, why = code_patch(ctx, stable_rng("engineer", ctx.seed, ctx.round, ctx.node, ctx.operator, ctx.applied))
    notes += [why] if why else []
    note = "; ".join(notes) or f"as proposed ({ctx.rationale or 'no rationale'})"
    return JobSpec(config=config, seed=seed, wall_seconds=ctx.wall_seconds, note=note, patch=patch)


def _clip_notes(base: Mapping[str, Any], knobs: Mapping[str, Knob]) -> list[str]:
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


def _seed_in_range(knob: Knob, seed: int) -> Any:
    if knob.kind != "int" or knob.low is None or knob.high is None:
        return clip(knob, seed)
    low, high = math.ceil(knob.low), math.floor(knob.high)
    return low + (seed - low) % (high - low + 1)


POLICIES: dict[str, Callable[[Any], Any]] = {
    "director": director,
    "engineer": engineer,
    "critic": critic,
    "editor": editor,
    "solo": solo,
}


POLICIES: dict[str, Callable[[Any], Any]] = {
    "director": director, "subdirector": subdirector, "engineer": engineer, "critic": critic,
    "critic_plan": critic_plan, "critic_merge": critic_merge, "editor": editor, "solo": solo, "sampler": sampler,
}
