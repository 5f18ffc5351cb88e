"""What each role kind does with each message kind it takes (roles.flow declares which): the engine's side
of a handler — building the decision's context from the message and what the agent knows, calling its
model, and acting on the answer (running a job, installing a merge, sending messages on).

One module per role, each holding its handlers and its role's own state: director, engineer, critic,
editor, and selfrun (solo agents and samplers). A handler is `async def handler(ctx, msg)`, registered with
`@handles(role kind, payload kind)`; `ctx` is the replica's `ActContext` (team.engine.flow.context).
`ACTS` is the table the runtime calls, `STATES` the role states it makes, `round_end` the merge step of a
settled round.
"""

from __future__ import annotations

from team.engine.acts import critic, director, editor, engineer, selfrun  # noqa: F401 - they fill the table
from team.engine.acts.editor import round_end
from team.engine.acts.table import ACTS, STATES, handles, role_state

__all__ = ["ACTS", "STATES", "round_end", "handles", "role_state"]
