"""What each role kind does with each payload kind it takes (roles.flow.HANDLES): the engine's side of a
handler — building the decision's context from the message and what the agent knows, calling its model,
and acting on the answer (running a job, installing a merge, sending messages on).

`ACTS[(kind, payload)]` is called as `act(runtime, actor, message, signal)`; `ACTS["entry"]` starts an
entry agent, `ACTS["merge_round"]` is the merge step of a settled round.
"""

from __future__ import annotations

from team.engine.acts.editor import editor_verdict, merge_round, park
from team.engine.acts.plan import director_verdict, learn_act, plan_rounds, subplan
from team.engine.acts.review import review_merge, review_plan, review_result
from team.engine.acts.selfrun import entry_selfrun, next_step
from team.engine.acts.work import engineer_verdict, entry_engineer, follow_up, run_proposal

__all__ = ["ACTS", "entry"]


async def entry(rt, agent: str) -> None:
    kind = rt.team.agents[agent].kind
    if kind == "director":
        await plan_rounds(rt, agent)
    elif kind == "engineer":
        await entry_engineer(rt, agent)
    else:
        await entry_selfrun(rt, agent)


ACTS = {
    "entry": entry,
    "merge_round": merge_round,
    ("director", "plan"): subplan,
    ("director", "log"): learn_act,
    ("director", "result"): learn_act,
    ("director", "verdict"): director_verdict,
    ("engineer", "proposal"): run_proposal,
    ("engineer", "verdict"): engineer_verdict,
    ("engineer", "result"): follow_up,
    ("engineer", "log"): learn_act,
    ("critic", "result"): review_result,
    ("critic", "plan"): review_plan,
    ("critic", "merge"): review_merge,
    ("editor", "result"): park,
    ("editor", "verdict"): editor_verdict,
    ("solo", "result"): next_step,
    ("solo", "log"): learn_act,
    ("solo", "verdict"): learn_act,
    ("sampler", "result"): next_step,
}
