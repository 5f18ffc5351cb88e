"""The runtime: the team file as a running program. Each agent replica is an actor with an inbox; each
edge is a channel; messages travel along edges and nowhere else (team/GRAPH.md has the rules).

Entry agents plan rounds (or, for solo agents and samplers, start their lanes of experiments); every other
agent acts only on what it receives, through the handler its role kind has for the payload (the `acts`
modules; roles/ holds each decision's template, schema and scripted policy). `run()` returns a
`TeamOutcome`; nothing reads the runtime's state from outside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from groundwork.errors import BudgetExhausted
from roles.context import Experiment, TaskCard
from roles.flow import KINDS
from team.config.topology import Team
from team.engine.agents.memory import Memory
from team.engine.agents.runner import AgentRunner
from team.engine.flow.messages import Message, message_id
from team.engine.flow.rounds import RoundBook
from team.engine.flow.routing import Router
from team.engine.records import catalog as ev
from team.engine.work.merger import Merger
from team.engine.work.outcome import TeamOutcome
from team.engine.work.scoreboard import Scoreboard
from team.engine.work.tree import AttemptTree
from team.engine.work.workshop import Workshop

__all__ = ["Runtime", "Actor", "TeamOutcome"]


@dataclass
class Actor:
    """One agent replica: its runner (model, ledger, memo), what it knows, and its inbox: the handlers of
    the messages delivered to it that have not finished (each starts when its message arrives)."""

    replica: str
    agent: str
    runner: AgentRunner
    memory: Memory = field(default_factory=Memory)
    inbox: set[asyncio.Task] = field(default_factory=set)

    @property
    def role(self):
        return self.runner.role


class Runtime:
    def __init__(self, team: Team, card: TaskCard, work: Workshop, merger: Merger,
                 runners: Mapping[str, AgentRunner], tree: AttemptTree, *, seed: int = 0, job_seconds: float = 60.0,
                 acts: Mapping[Any, Callable]):
        self.team, self.card, self.work, self.merger, self.tree = team, card, work, merger, tree
        self.seed, self.job_seconds = seed, job_seconds
        self.router = Router(team, work.capacity)
        self.scoreboard = Scoreboard()
        self.actors = {name: Actor(name, runners[name].agent_name, r) for name, r in runners.items()}
        self.acts = acts
        planners = [e for e in team.entries if team.agents[e].kind in ("director", "engineer")]
        self.book = RoundBook(list(team.entries), self._merge_step, enabled=bool(planners))
        self.stop_reason = ""
        self.proposed: dict[int, list[Any]] = {}  # round -> every proposal sent (plan reviews read it)
        self.parked: dict[tuple[str, int], list[Message]] = {}  # (editor agent, round) -> accepted results
        self.panels: dict[str, list] = {}
        self._inflight = 0  # messages delivered and not yet handled
        self._idle = asyncio.Event()
        self._idle.set()
        self.failure: BaseException | None = None
        self.steps = 0  # solo and sampler experiments started
        self.pending_configs: dict[tuple[str, int], dict] = {}  # (replica, lane) -> the config it is running
        self.fails: dict[str, int] = {}  # replica -> failed jobs in a row
        self._seeds: dict[int, list] = {}  # round -> seed groups not yet in the noise estimate

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
        self.stop_reason = self.stop_reason or ("budget" if self.work.stopping else "done")
        return self.outcome()

    async def _entry(self, name: str) -> None:
        try:
            await self.acts["entry"](self, name)
        except BudgetExhausted as exc:  # only the ledger decides that the budget is gone
            self.note_stop(f"budget: {exc}")
            self.work.stopping = True
        finally:
            self.book.close(name)

    async def _quiet(self) -> None:
        while self._inflight:
            await self._idle.wait()
        if self.failure is not None:
            raise self.failure

    async def _handle(self, actor: Actor, msg: Message) -> None:
        prejob = KINDS[msg.kind].before_jobs
        signal = _Once(lambda: self.book.taken(msg.round)) if prejob else None
        try:
            act = self.acts[(actor.role.kind, msg.kind)]
            await act(self, actor, msg, signal)
        except BudgetExhausted as exc:  # only the ledger decides that the budget is gone
            self.note_stop(f"budget: {exc}")
            self.work.stopping = True
        except Exception as exc:  # noqa: BLE001 - a broken handler ends the run with its error, not a hang
            self.failure = self.failure or exc
        finally:
            actor.inbox.discard(asyncio.current_task())
            if signal is not None:
                signal()
            self.book.done(msg.round)
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

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

    # -- the harness's side ------------------------------------------------------------------------
    async def _merge_step(self, r: int) -> None:
        self.take_observations(r)
        await self.acts["merge_round"](self, r)

    def judged(self, e: Experiment) -> None:
        self.scoreboard.judged(e)

    def observe(self, round: int, seeds: list) -> None:
        """Seeds of one config: the noise estimate takes them in at the round's merge step (in round order,
        so every critic of a round reviews against the same noise)."""
        if self.book.enabled:
            self._seeds.setdefault(round, []).append(seeds)
        else:
            self.merger.observe(seeds)

    def take_observations(self, round: int) -> None:
        for seeds in self._seeds.pop(round, []):
            self.merger.observe(seeds)

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
