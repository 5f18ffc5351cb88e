"""The runtime: the team file as a running program. Each agent replica is an actor with an inbox; each
edge is a channel; messages travel along edges and nowhere else (team/GRAPH.md has the rules).

The runtime routes and delivers: a delivered message starts the handler its recipient's role kind has for
the message's kind (team.engine.acts), called as `handler(ctx, msg)` with the replica's `ActContext`;
entry agents get a `start` message that travels no edge. When a round settles, its merge step runs
(`round_end(ctx, r)`). `run()` returns a `TeamOutcome`; nothing reads the runtime's state from outside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from groundwork.errors import BudgetExhausted
from roles.flow import KINDS, Start
from team.config.topology import Team
from team.engine.flow.context import ActContext, Actor, Delivery, Services
from team.engine.flow.messages import Message, message_id
from team.engine.flow.rounds import RoundBook
from team.engine.flow.routing import Router
from team.engine.records import catalog as ev
from team.engine.work.outcome import TeamOutcome
from team.engine.work.scoreboard import Scoreboard

__all__ = ["Runtime", "Actor", "TeamOutcome"]

Handler = Callable[[ActContext, Message], Awaitable[None]]


class Runtime:
    def __init__(self, team: Team, card: Any, work: Any, merger: Any, runners: Mapping[str, Any], tree: Any, *,
                 seed: int = 0, job_seconds: float = 60.0, acts: Mapping[tuple[str, str], Handler],
                 states: Mapping[str, Callable[[], Any]] | None = None,
                 round_end: Callable[[ActContext, int], Awaitable[None]] | None = None):
        """`acts[(role kind, payload kind)]` handles each message; `states[role kind]` makes that role's
        state (one per state class and run); `round_end` is the merge step of a settled round."""
        self.team, self.work, self.merger, self.tree = team, work, merger, tree
        self.router = Router(team, work.capacity)
        self.scoreboard = Scoreboard()
        self.actors = {name: Actor(name, runners[name].agent_name, r) for name, r in runners.items()}
        self.acts, self._round_end = acts, round_end
        planners = [e for e in team.entries if team.agents[e].kind in ("director", "engineer")]
        self.book = RoundBook(list(team.entries), self._merge_step if round_end else None, enabled=bool(planners))
        self.services = Services(card, team, tree, work, merger, work.events, self.book, self.scoreboard, seed,
                                 job_seconds)
        self._delivery = Delivery(self.send, self.local, self.replicas, self.router.capacity, self.note_stop,
                                   self._started_of, self.context_of)
        made: dict[Any, Any] = {}
        role_state = {kind: made.setdefault(make, make()) for kind, make in (states or {}).items()}
        self.contexts = {name: ActContext(self.services, actor, role_state.get(actor.role.kind), self._delivery)
                         for name, actor in self.actors.items()}
        self.harness = ActContext(self.services, None, None, self._delivery)  # the merge step's own context
        self.stop_reason = ""
        self._inflight = 0  # messages delivered and not yet handled
        self._idle = asyncio.Event()
        self._idle.set()
        self._signals: dict[int, _Once] = {}  # id(message) -> its slot signal, while a before-jobs one is handled
        self.failure: BaseException | None = None

    # -- running -------------------------------------------------------------------------------------
    async def run(self) -> TeamOutcome:
        try:
            entries = [asyncio.create_task(self._entry(name)) for name in self.team.entries]
            await asyncio.gather(*entries)
            while True:
                await self._quiet()
                await self.book.drain()
                if self._inflight == 0:
                    break
        finally:
            pending = [task for actor in self.actors.values() for task in actor.inbox]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)  # let interrupted jobs settle their budget
            self.tree.close()  # the node files the report reads
        self.stop_reason = self.stop_reason or ("budget" if self.work.stopping else "done")
        return self.outcome()

    async def _entry(self, name: str) -> None:
        actor = self.replicas(name)[0]
        start = Message(f"start:{name}", None, name, actor.replica, "", "start", 0, 0, Start())
        try:
            await self.acts[(actor.role.kind, "start")](self.contexts[actor.replica], start)
        except BudgetExhausted as exc:  # only the ledger decides that the budget is gone
            self._budget_gone(exc)
        finally:
            self.book.close(name)

    async def _quiet(self) -> None:
        while self._inflight:
            await self._idle.wait()
        if self.failure is not None:
            raise self.failure

    async def _handle(self, actor: Actor, msg: Message) -> None:
        signal = None
        if KINDS[msg.kind].before_jobs:
            signal = self._signals[id(msg)] = _Once(lambda: self.book.taken(msg.round))
        try:
            await self.acts[(actor.role.kind, msg.kind)](self.contexts[actor.replica], msg)
        except BudgetExhausted as exc:  # only the ledger decides that the budget is gone
            self._budget_gone(exc)
        except Exception as exc:  # noqa: BLE001 - a broken handler ends the run with its error, not a hang
            self.failure = self.failure or exc
        finally:
            actor.inbox.discard(asyncio.current_task())
            if signal is not None:
                del self._signals[id(msg)]
                signal()
            self.book.done(msg.round)
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    def _started_of(self, msg: Message) -> Any:
        return self._signals.get(id(msg))

    def _budget_gone(self, exc: BudgetExhausted) -> None:
        self.note_stop(f"budget: {exc}")
        self.work.stop_new_jobs()

    # -- sending -------------------------------------------------------------------------------------
    def send(self, sender: Actor | str, received: str, payload: Any, *, round: int, lane: int,
             parent: str | None, loops: Mapping[int, int] | None = None, parents: tuple[str, ...] = ()) -> int:
        """Route an output along the sender agent's edges that carry its kind; returns how many messages
        went out."""
        agent = sender.agent if isinstance(sender, Actor) else sender
        name = sender.replica if isinstance(sender, Actor) else sender
        sent, k = 0, 0
        for edge, recipient, kind, part, part_lane, part_loops in self.router.deliveries(
                agent, received, payload, lane, loops or {}):
            k += 1
            if recipient is None:
                self.work.events.emit(ev.LOOP_LIMIT, edge=edge.name, parent=parent, round=round, kind=kind,
                                      max_loops=edge.max_loops)
                continue
            msg = Message(message_id(parent, f"{edge.index}", part_lane, k, round), parent, name, recipient, edge.name,
                          kind, round, part_lane, part, part_loops, parents)
            self.deliver(msg)
            sent += 1
        return sent

    def deliver(self, msg: Message) -> None:
        if msg.edge:
            self.work.events.emit(ev.MESSAGE, id=msg.id, parent=msg.parent, **{"from": msg.sender, "to": msg.recipient},
                                  edge=msg.edge, kind=msg.kind, round=msg.round, lane=msg.lane, **msg.payload.summary())
        self.book.add(msg.round, KINDS[msg.kind].before_jobs)
        self._inflight += 1
        self._idle.clear()
        actor = self.actors[msg.recipient]
        # No serving task per actor (a hop less per message); the handler leaves the inbox itself when it
        # ends (a done-callback would cost one more turn of the loop per message).
        actor.inbox.add(asyncio.get_running_loop().create_task(self._handle(actor, msg)))

    def local(self, actor: Actor, kind: str, payload: Any, *, round: int, lane: int, parent: str | None) -> Message:
        """A message an agent gives itself (an entry engineer's own proposal): no edge, no message row."""
        msg = Message(message_id(parent, "local", lane, 0, round), parent, actor.replica, actor.replica, "", kind, round,
                      lane, payload)
        self.deliver(msg)
        return msg

    def replicas(self, agent: str) -> list[Actor]:
        return [self.actors[n] for n in self.team.agents[agent].replica_names()]

    def context_of(self, replica: str) -> ActContext:
        return self.contexts[replica]

    # -- the harness's side ------------------------------------------------------------------------
    async def _merge_step(self, r: int) -> None:
        await self._round_end(self.harness, r)

    def note_stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason

    def outcome(self) -> TeamOutcome:
        runners = [a.runner for a in self.actors.values()]
        return TeamOutcome.build(self.stop_reason, self.merger, self.scoreboard, self.work, runners, self.tree)


class _Once:
    """Call `fn` the first time only (a message reaching its job slot, or ending without one)."""

    def __init__(self, fn: Callable[[], None]):
        self.fn, self.called = fn, False

    def __call__(self) -> None:
        if not self.called:
            self.called = True
            self.fn()

    set = __call__  # the Workshop sets it like an asyncio.Event once the job holds its slot
