"""Semantic checks: a decision is checked against the task and the run before anything acts on it.

A check is a plain function `(context, output) -> list[str]`; each problem says what is wrong and what is
allowed, because it goes back to the model as a repair turn (team.engine.agents.conversation), exactly like a
schema error. `CHECKS` maps a handler's policy name (roles.yaml) to its checks, so a new rule is one more
function in a tuple. Scripted policies
are trusted: only model replies are checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from tasks.spec import Knob

__all__ = ["Check", "CHECKS", "problems", "config_problems", "plan_proposals", "job_config", "job_time",
           "verdict_revisions", "verdict_label", "verdict_on_result", "merge_members", "solo_step", "canonical_config", "job_patch", "as_proposed"]

Check = Callable[[Any, BaseModel], list[str]]
SEED = "seed"  # not part of what makes an experiment; a critic's fix may name it (the engineer's job seed)


def canonical_config(config: Mapping[str, Any]) -> str:
    """What makes two configs the same experiment for the engine (the seed aside)."""
    return repr(sorted((k, config[k]) for k in config if k != SEED))


def _knob_line(k: Knob) -> str:
    if k.kind == "choice":
        return f"{k.name} one of {list(k.choices)}"
    if k.kind == "bool":
        return f"{k.name} true or false"
    kind = "an integer" if k.kind == "int" else "a number"
    return f"{k.name} {kind} in [{k.low:g}, {k.high:g}]"


def config_problems(where: str, config: Mapping[str, Any], knobs: Sequence[Knob],
                    extra: tuple[str, ...] = ()) -> list[str]:
    """Unknown knobs (other than `extra` names) and values of the wrong type or out of range, each with what
    is allowed. As strict as the engine's own config cleaning, so what passes here is never dropped there."""
    by_name = {k.name: k for k in knobs}
    out = []
    for name, value in config.items():
        knob = by_name.get(name)
        if knob is None:
            if name not in extra:
                out.append(f"{where}: unknown knob {name!r}; the task's knobs are {', '.join(by_name)}")
            continue
        try:
            knob.validate(value)
        except (ValueError, TypeError) as exc:
            out.append(f"{where}.{exc}; allowed: {_knob_line(knob)}")
    return out


def _repeats(where: str, configs: Sequence[Mapping[str, Any]], tried: Iterable[Mapping[str, Any]],
             tags: Sequence[tuple] | None = None, tried_tags: Sequence[tuple] | None = None) -> list[str]:
    """Configs already tried; with `tags` ((node, operator) per config), the same config on another node
    or with another operator is another experiment."""
    tried = list(tried)
    seen = {(t, canonical_config(c)) for c, t in zip(tried, tried_tags or [()] * len(tried), strict=True)}
    out = []
    for i, config in enumerate(configs):
        key = ((tags or [()] * len(configs))[i], canonical_config(config))
        if key in seen:
            label = f"{where}[{i}]" if len(configs) > 1 else where
            out.append(f"{label} repeats an experiment already run, planned or proposed "
                       f"({json.dumps(dict(config), sort_keys=True, default=str)}); allowed: a config that is not in "
                       f"the history")
        seen.add(key)
    return out


# -- directors (and entry engineers planning) ---------------------------------------------------------

def plan_proposals(ctx: Any, plan: BaseModel) -> list[str]:
    """A plan that does not stop proposes 1..n new, legal experiments."""
    if plan.stop:
        return []
    n = ctx.n_proposals
    if not plan.proposals:
        return [f"proposals: the plan proposes nothing and does not stop; allowed: 1 to {n} experiments, or "
                f"stop=true with a reason"] if n > 0 else []
    out = [f"proposals: {len(plan.proposals)} experiments, but the engineers take {n} this round; allowed: "
           f"at most {n}"] if len(plan.proposals) > n else []
    for i, p in enumerate(plan.proposals):
        out += config_problems(f"proposals[{i}].config", p.config, ctx.task.knobs)
        out += _node_problems(f"proposals[{i}]", p, ctx)
    return out + _repeats("proposals", [p.config for p in plan.proposals], [e.config for e in ctx.history],
                          [(p.node, p.operator) for p in plan.proposals], [as_proposed(e) for e in ctx.history])


def as_proposed(e: Any) -> tuple[str, str]:
    """How a remembered experiment would be proposed again: its own proposal while pending, else a tune of
    the starter (what a config alone means), as the engine dedups them."""
    if e.job_id.startswith("planned-"):
        return e.node or "starter", e.operators[0] if e.operators else "tune"
    return "starter", "tune"


def _node_problems(where: str, p: Any, ctx: Any) -> list[str]:
    """The node a proposal starts from exists, and its operator is one the task card offers."""
    nodes = ["starter", "best"] + sorted({e.node for e in ctx.history if getattr(e, "node", "")})
    operators = ["tune"] + [name for name, _ in ctx.task.operators]
    out = []
    if p.node not in nodes:
        out.append(f"{where}.node: {p.node!r} is no node of the tree; allowed: {', '.join(nodes)}")
    if p.operator not in operators:
        out.append(f"{where}.operator: unknown operator {p.operator!r}; allowed: {', '.join(operators)}")
    return out


# -- engineers ------------------------------------------------------------------------------------------

def job_config(ctx: Any, spec: BaseModel) -> list[str]:
    return config_problems("config", spec.config, ctx.task.knobs)


def job_patch(ctx: Any, spec: BaseModel) -> list[str]:
    """A patch applies to the parent's files (whole files, or a unified diff against them)."""
    if not spec.patch or not ctx.files:
        return []
    from tasks.solutions import PatchError, Solution, apply_patch

    try:
        apply_patch(Solution(dict(ctx.files)), spec.patch)
    except PatchError as exc:
        return [f"{exc}; allowed: {{\"files\": {{path: new text}}}} and/or {{\"diff\": \"<unified diff>\"}} "
                f"against the parent's files ({', '.join(sorted(ctx.files))})"]
    return []


def job_time(ctx: Any, spec: BaseModel) -> list[str]:
    """The job's time limit is within the task's per-job limit and the useful minimum."""
    high = float(ctx.wall_seconds)
    low = min(float(ctx.task.min_job_seconds), high)
    allowed = f"allowed: {low:g} to {high:g} seconds"
    if spec.wall_seconds > high + 1e-9:
        return [f"wall_seconds: {spec.wall_seconds:g} is over the task's per-job limit; {allowed}"]
    if spec.wall_seconds < low - 1e-9:
        return [f"wall_seconds: {spec.wall_seconds:g} is too short to train anything; {allowed}"]
    return []


# -- critics --------------------------------------------------------------------------------------------

def verdict_revisions(ctx: Any, verdict: BaseModel) -> list[str]:
    """`revise` needs a revision left on this lineage (else the verdict would go nowhere)."""
    if verdict.decision == "revise" and ctx.revisions_left <= 0:
        return ["decision: revise is not possible, no revisions are left for this lineage; allowed: accept or "
                "reject"]
    return []


def verdict_label(ctx: Any, verdict: BaseModel) -> list[str]:
    """A label is one of the role's, and the decision is what it means."""
    label = getattr(verdict, "label", None)
    if not label:
        return []
    labels = dict((ctx.settings or {}).get("labels") or {})
    if label not in labels:
        allowed = f"one of {', '.join(labels)}, or none" if labels else "none (this role declares no labels)"
        return [f"label: {label!r} is not a label of this role; allowed: {allowed}"]
    means = labels[label]["means"]
    if verdict.decision != means:
        return [f"decision: label {label!r} means {means}, so the decision must be {means} (or drop the label)"]
    return []


def verdict_on_result(ctx: Any, verdict: BaseModel) -> list[str]:
    """No accept of a job without a model or with integrity problems; a fix names knobs in range."""
    o, out = ctx.outcome, []
    if verdict.decision == "accept" and ctx.flags:
        out.append(f"decision: accept is vetoed, the harness found integrity problems ({'; '.join(ctx.flags)}); "
                   f"allowed: reject")
    elif verdict.decision == "accept" and (o.status != "ok" or o.dev_accuracy is None):
        out.append(f"decision: job {o.job_id} ended {o.status} without a dev score, so there is no model to accept; "
                   f"allowed: {'revise or reject' if ctx.revisions_left > 0 else 'reject'}")
    return out + config_problems("fix", verdict.fix, ctx.task.knobs, extra=(SEED,))


# -- editors --------------------------------------------------------------------------------------------

def merge_members(ctx: Any, decision: BaseModel) -> list[str]:
    """Members are accepted checkpoints, each once, at least one."""
    accepted = [e.job_id for e in ctx.accepted]
    allowed = f"allowed: job ids of accepted checkpoints ({', '.join(accepted)})"
    if not decision.members:
        return [f"members: empty; {allowed}"]
    out = [f"members: {m!r} is not an accepted checkpoint; {allowed}" for m in decision.members if m not in accepted]
    if len(set(decision.members)) < len(decision.members):
        out.append(f"members: a job id is named twice; {allowed}, each once")
    return out


# -- solo agents ----------------------------------------------------------------------------------------

def solo_step(ctx: Any, step: BaseModel) -> list[str]:
    """A step that does not stop names a new, legal next experiment."""
    if step.stop:
        return []
    if step.next is None:
        return ["next: no next experiment and stop is false; allowed: a next experiment, or stop=true with a reason"]
    tried = [e.config for e in ctx.history] + list(ctx.pending) + ([ctx.last.config] if ctx.last else [])
    return config_problems("next.config", step.next.config, ctx.task.knobs) + _repeats("next", [step.next.config],
                                                                                         tried)


CHECKS: dict[str, tuple[Check, ...]] = {
    "director": (plan_proposals,),
    "subdirector": (plan_proposals,),
    "engineer": (job_config, job_patch, job_time),
    "critic": (verdict_revisions, verdict_label, verdict_on_result),
    "critic_plan": (verdict_revisions, verdict_label),
    "critic_merge": (verdict_revisions, verdict_label),
    "editor": (merge_members,),
    "solo": (solo_step,),
}


def problems(policy: str, ctx: Any, output: BaseModel) -> list[str]:
    """Every problem the checks of the handler whose scripted policy is `policy` find in `output`."""
    return [p for check in CHECKS.get(policy, ()) for p in check(ctx, output)]
