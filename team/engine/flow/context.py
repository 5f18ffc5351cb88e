"""What a handler is given: `ActContext`, the few services it uses (pydantic_graph's `GraphRunContext`, not
the whole runtime to reach into): the task card, the team file, the tree of attempts, the workshop, the
merger, the event log, the rounds, the harness's scoreboard, its own replica (`actor`) with its role's
state, and `send`. The runtime builds one per replica and calls `handler(ctx, msg)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from roles.context import TaskCard
from tasks import inert_knobs
from team.config.topology import Team
from team.engine.agents.memory import Memory
from team.engine.flow.messages import Message
from team.engine.flow.rounds import RoundBook
from team.engine.records import catalog as ev
from team.engine.records.events import EventLog
from team.engine.work.merger import Merger
from team.engine.work.scoreboard import Scoreboard
from team.engine.work.tree import AttemptTree
from team.engine.work.workshop import Workshop

__all__ = ["ActContext", "Actor", "Services", "Delivery"]


@dataclass
class Actor:
    """One agent replica: its runner (model, ledger, memo), what it knows, and its inbox: the handlers of
    the messages delivered to it that have not finished (each starts when its message arrives)."""

    replica: str
    agent: str
    runner: Any  # team.engine.agents.runner.AgentRunner
    memory: Memory = field(default_factory=Memory)
    inbox: set[asyncio.Task] = field(default_factory=set)

    @property
    def role(self):
        return self.runner.role


@dataclass(frozen=True)
class Services:
    """The run's parts every handler may use (one set per run)."""

    card: TaskCard
    team: Team
    tree: AttemptTree
    work: Workshop
    merger: Merger
    events: EventLog
    rounds: RoundBook
    board: Scoreboard  # the harness's record
    seed: int
    job_seconds: float


@dataclass(frozen=True)
class Delivery:
    """The runtime's side of a context: how a handler's output goes out (given by the runtime)."""

    send: Callable[..., int]
    local: Callable[..., Message]
    replicas: Callable[[str], list[Actor]]
    capacity: Callable[[str], int]
    note_stop: Callable[[str], None]
    started: Callable[[Message], Any]
    context_of: Callable[[str], ActContext]


@dataclass(frozen=True)
class ActContext:
    """A handler's view of the run, for one replica (`actor`; None for the harness's own steps)."""

    services: Services
    actor: Actor | None
    state: Any  # its role's state (the handlers' module declares it), or None
    delivery: Delivery

    # -- the run's parts ----------------------------------------------------------------------------
    @property
    def card(self) -> TaskCard:
        return self.services.card

    @property
    def team(self) -> Team:
        return self.services.team

    @property
    def tree(self) -> AttemptTree:
        return self.services.tree

    @property
    def work(self) -> Workshop:
        return self.services.work

    @property
    def merger(self) -> Merger:
        return self.services.merger

    @property
    def events(self) -> EventLog:
        return self.services.events

    @property
    def rounds(self) -> RoundBook:
        return self.services.rounds

    @property
    def board(self) -> Scoreboard:
        return self.services.board

    @property
    def seed(self) -> int:
        return self.services.seed

    @property
    def job_seconds(self) -> float:
        return self.services.job_seconds

    # -- sending -----------------------------------------------------------------------------------
    def send(self, received: str, payload: Any, *, round: int, lane: int, parent: str | None,
             loops: Mapping[int, int] | None = None, parents: tuple[str, ...] = (),
             sender: Actor | str | None = None) -> int:
        """Route `payload` (the answer to a message of kind `received`) along the sender's edges that carry
        its kind; the sender is this replica unless given (a panel's combined verdict comes from its agent).
        Returns how many messages went out."""
        who = self.actor if sender is None else sender
        return self.delivery.send(who, received, payload, round=round, lane=lane, parent=parent, loops=loops,
                                  parents=parents)

    def local(self, to: Actor, kind: str, payload: Any, *, round: int, lane: int, parent: str | None) -> Message:
        """A message an agent gives one of its replicas (an entry engineer's own proposal): no edge, no row."""
        return self.delivery.local(to, kind, payload, round=round, lane=lane, parent=parent)

    def started(self, msg: Message) -> Any:
        """The signal a before-jobs message sets once its job holds a slot (None for other messages)."""
        return self.delivery.started(msg)

    def replicas(self, agent: str) -> list[Actor]:
        return self.delivery.replicas(agent)

    def context_of(self, replica: str) -> ActContext:
        return self.delivery.context_of(replica)

    def capacity(self, agent: str) -> int:
        """Experiments `agent` can take per round (routing's plan shares)."""
        return self.delivery.capacity(agent)

    def note_stop(self, reason: str) -> None:
        """Why the run stops (the first reason given stands)."""
        self.delivery.note_stop(reason)

    # -- what several roles' handlers ask ----------------------------------------------------------
    def budget_left(self) -> dict[str, float]:
        """What the ledger has left of each limited resource (what a prompt says the budget is)."""
        ledger = self.work.ledger
        return {k: round(ledger.left(k), 3) for k in ledger.limits}

    def clean_config(self, config: Mapping[str, Any], agent: str = "") -> dict[str, Any] | None:
        """The config if every knob is known and in range (an LLM may propose nonsense), else None (with an
        `invalid_config` row)."""
        knobs = self.work.prepared.task.knobs
        try:
            for name, value in config.items():
                if name not in knobs:
                    raise ValueError(f"unknown knob {name!r}")
                knobs[name].validate(value)
        except (ValueError, TypeError) as exc:
            self.events.emit(ev.INVALID_CONFIG, agent=agent, config=dict(config), error=str(exc))
            return None
        inert = inert_knobs(config, knobs)  # lora_rank while method is full: it changes nothing, so it is reset
        return {k: knobs[k].default if k in inert else v for k, v in config.items() if k != "seed"}
