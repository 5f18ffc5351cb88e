"""Semantic checks (roles/checks.py): each problem a decision can have says what is wrong and what is
allowed; valid decisions pass; the house's own scripted policies never break a rule the checks enforce."""

from __future__ import annotations

import pytest

from roles.checks import CHECKS, problems
from roles.context import EditorContext, Experiment, SoloContext
from roles.policies import POLICIES
from roles.schemas import JobSpec, MergeDecision, Plan, Proposal, SoloStep, Verdict
from tests.test_policies import TASK, _cctx, _config, _contexts, _dctx, _ectx, _outcome


def _plan(*configs, stop=False):
    return Plan(proposals=[Proposal(config=c) for c in configs], stop=stop)


def test_a_legal_new_plan_passes_and_a_stop_needs_no_proposals():
    assert problems("director", _dctx(n=2), _plan({"lr": 0.01}, {"lr": 0.02})) == []
    assert problems("director", _dctx(n=2), Plan(stop=True, reason="plateau")) == []


def test_unknown_and_out_of_range_knobs_say_what_the_task_allows():
    found = problems("director", _dctx(n=2), _plan({"learning_rate": 0.01}, {"lr": 5.0, "steps": 30.5}))
    assert any("proposals[0].config: unknown knob 'learning_rate'; the task's knobs are lr, schedule" in p
               for p in found)
    assert any(p.startswith("proposals[1].config.lr: 5.0 is outside [0.0001, 0.03]; allowed: lr a number in "
                            "[0.0001, 0.03]") for p in found)
    assert any("steps: expected an integer, got 30.5; allowed: steps an integer in [50, 2000]" in p for p in found)


def test_an_empty_plan_too_many_proposals_and_repeats_are_problems():
    empty = problems("director", _dctx(n=3), Plan())
    assert empty == ["proposals: the plan proposes nothing and does not stop; allowed: 1 to 3 experiments, or "
                     "stop=true with a reason"]
    many = problems("director", _dctx(n=1), _plan({"lr": 0.01}, {"lr": 0.02}))
    assert many == ["proposals: 2 experiments, but the engineers take 1 this round; allowed: at most 1"]
    tried = Experiment("j0", _config(), 0, "ok", 0.5, "accept", 1)
    again = problems("director", _dctx([tried], n=2), _plan({**_config(), "seed": 7}, {"lr": 0.01}, ))
    assert len(again) == 1 and "proposals[0] repeats an experiment already run" in again[0]
    twice = problems("director", _dctx(n=2), _plan({"lr": 0.01}, {"lr": 0.01}))
    assert len(twice) == 1 and twice[0].startswith("proposals[1] repeats")


def test_a_job_must_fit_between_the_useful_minimum_and_the_per_job_limit():
    ctx = _ectx()  # 42 s per job, at least 8
    ok = JobSpec(config=_config(), seed=1, wall_seconds=30)
    assert problems("engineer", ctx, ok) == []
    short = problems("engineer", ctx, ok.model_copy(update={"wall_seconds": 2.0}))
    assert short == ["wall_seconds: 2 is too short to train anything; allowed: 8 to 42 seconds"]
    long = problems("engineer", ctx, ok.model_copy(update={"wall_seconds": 600.0}))
    assert long == ["wall_seconds: 600 is over the task's per-job limit; allowed: 8 to 42 seconds"]
    bad = problems("engineer", ctx, ok.model_copy(update={"config": {"lr": 1.0}}))
    assert bad and bad[0].startswith("config.lr: 1.0 is outside")


def test_a_per_job_limit_below_the_minimum_allows_the_limit_itself():
    """The workshop raises such a job to the minimum; the engineer cannot ask for more than the task gives."""
    from dataclasses import replace

    ctx = replace(_ectx(), wall_seconds=5.0)
    assert problems("engineer", ctx, JobSpec(config={}, wall_seconds=5.0)) == []


def test_a_verdict_cannot_revise_without_revisions_nor_accept_what_has_no_model():
    ok = _cctx(_outcome(dev=0.8), revisions=0)
    assert problems("critic", ok, Verdict(decision="revise")) == [
        "decision: revise is not possible, no revisions are left for this lineage; allowed: accept or reject"]
    assert problems("critic", ok, Verdict(decision="accept")) == []
    failed = _cctx(_outcome(status="failed", job="j9"), revisions=1)
    assert problems("critic", failed, Verdict(decision="accept")) == [
        "decision: job j9 ended failed without a dev score, so there is no model to accept; allowed: revise or reject"]
    flagged = _cctx(_outcome(dev=0.9), flags=("trained on test items",))
    assert problems("critic", flagged, Verdict(decision="accept"))[0].startswith("decision: accept is vetoed")
    fix = problems("critic", ok, Verdict(decision="reject", fix={"momentum": 0.9, "seed": 3}))
    assert fix == ["fix: unknown knob 'momentum'; the task's knobs are " + ", ".join(k.name for k in TASK.knobs)]


def test_merge_members_must_be_accepted_checkpoints_each_once():
    accepted = (Experiment("a1", _config(), 0, "ok", 0.7, "accept", 1), Experiment("b2", _config(lr=0.01), 0, "ok",
                                                                                   0.6, "accept", 1))
    ctx = EditorContext(task=TASK, round=1, policy="soup", accepted=accepted)
    assert problems("editor", ctx, MergeDecision(policy="soup", members=["a1", "b2"])) == []
    assert problems("editor", ctx, MergeDecision(policy="best", members=["zz"])) == [
        "members: 'zz' is not an accepted checkpoint; allowed: job ids of accepted checkpoints (a1, b2)"]
    assert problems("editor", ctx, MergeDecision(policy="best", members=[])) == [
        "members: empty; allowed: job ids of accepted checkpoints (a1, b2)"]
    assert len(problems("editor", ctx, MergeDecision(policy="soup", members=["a1", "a1"]))) == 1


def test_a_solo_step_names_a_new_next_experiment_unless_it_stops():
    last = _outcome(dev=0.5, config=_config(lr=0.004))
    ctx = SoloContext(task=TASK, round=2, history=(), last=last, best_dev=None, rounds_left=3)
    assert problems("solo", ctx, SoloStep(next=Proposal(config={"lr": 0.02}))) == []
    assert problems("solo", ctx, SoloStep(stop=True)) == []
    assert problems("solo", ctx, SoloStep())[0].startswith("next: no next experiment and stop is false")
    again = problems("solo", ctx, SoloStep(next=Proposal(config=_config(lr=0.004))))
    assert len(again) == 1 and again[0].startswith("next repeats an experiment")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_scripted_policies_keep_every_rule_the_checks_enforce(name):
    """A fallback never breaks a rule the model is held to (the runner trusts scripted answers unchecked)."""
    ctx = _contexts()[name]
    assert problems(name, ctx, POLICIES[name](ctx)) == []


def test_a_proposal_names_a_node_of_the_tree_and_an_operator_the_card_offers():
    from dataclasses import replace

    ctx = _dctx([Experiment("j0", _config(), 0, "ok", 0.5, "accept", 1, "n1a2b3c4d5e")], n=2)
    ctx = replace(ctx, task=replace(ctx.task, operators=(("curriculum", "short rows first"),)))
    good = Plan(proposals=[Proposal(config={"lr": 0.01}, node="n1a2b3c4d5e", operator="curriculum"),
                           Proposal(config={"lr": 0.02}, node="best")])
    assert problems("director", ctx, good) == []
    bad = Plan(proposals=[Proposal(config={"lr": 0.01}, node="n999", operator="dropout")])
    assert problems("director", ctx, bad) == [
        "proposals[0].node: 'n999' is no node of the tree; allowed: starter, best, n1a2b3c4d5e",
        "proposals[0].operator: unknown operator 'dropout'; allowed: tune, curriculum"]


def test_a_patch_must_apply_to_the_parents_files():
    from dataclasses import replace

    ctx = replace(_ectx(), files={"train.py": "LR = 0.001\nprint('hi')\n"})
    spec = JobSpec(config=_config(), seed=1, wall_seconds=30)
    whole = spec.model_copy(update={"patch": {"files": {"train.py": "LR = 0.002\nprint('hi')\n"}}})
    assert problems("engineer", ctx, whole) == []
    diff = "--- a/train.py\n+++ b/train.py\n@@ -1,2 +1,2 @@\n-LR = 0.5\n+LR = 0.002\n print('hi')\n"
    found = problems("engineer", ctx, spec.model_copy(update={"patch": {"diff": diff}}))
    assert len(found) == 1 and found[0].startswith("patch") and "against the parent's files (train.py)" in found[0]
    gone = problems("engineer", ctx, spec.model_copy(update={"patch": {"files": {"eval.py": None}}}))
    assert len(gone) == 1 and "cannot delete a file the solution does not have" in gone[0]
