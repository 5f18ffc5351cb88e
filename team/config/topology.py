"""Load a team file into a checked role graph: schema v1 validation (pydantic), then the graph pass
(team.config.checks) for unknown roles and agents, settings, unreachable agents, unbounded cycles and
the payload flow. Every problem of a file is reported together, one `FILE:LINE: what is wrong` line each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import networkx as nx

from groundwork.errors import ConfigError
from groundwork.yamlio import load_yaml, validate_model
from roles.library import Role, builtin_roles, check_settings, team_files
from team.config.checks import check_graph, entry_agents, loop_backs, received_kinds
from team.config.spec import ModelDefaults, TeamSpec

__all__ = ["Agent", "Edge", "Team", "load_team", "resolve_team_path", "check_graph"]


@dataclass(frozen=True)
class Agent:
    name: str
    role: Role  # with this agent's settings and prompt applied
    replicas: int
    model: ModelDefaults  # the defaults with this agent's overrides applied

    @property
    def kind(self) -> str:
        return self.role.kind

    @property
    def settings(self) -> Mapping[str, Any]:
        return self.role.settings

    def replica_names(self) -> tuple[str, ...]:
        if self.replicas == 1:
            return (self.name,)
        return tuple(f"{self.name}[{i}]" for i in range(self.replicas))


@dataclass(frozen=True)
class Edge:
    source: str
    to: str
    when: tuple[str, ...] | None = None  # the verdicts it carries (None: every payload)
    max_loops: int | None = None
    broadcast: bool = False
    index: int = 0  # its position in the file's edges list
    loop_back: bool = False  # it closes a cycle: a lineage crosses it at most max_loops times
    kinds: frozenset[str] = frozenset()  # the payload kinds that can travel it

    @property
    def name(self) -> str:
        return f"{self.source}->{self.to}"

    def carries(self, kind: str, decision: str | None) -> bool:
        return kind in self.kinds and (self.when is None or decision in self.when)


@dataclass(frozen=True)
class Team:
    name: str
    description: str
    path: Path | None
    agents: Mapping[str, Agent]
    edges: tuple[Edge, ...]
    entries: tuple[str, ...]
    merge: str
    rounds: int
    plateau: int | None
    budget: Mapping[str, float]
    digest: str
    spec: TeamSpec

    @property
    def entry(self) -> str:
        return self.entries[0]

    def graph(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph(name=self.name)
        for agent in self.agents.values():
            g.add_node(agent.name, role=agent.role.name, kind=agent.kind, replicas=agent.replicas)
        for e in self.edges:
            g.add_edge(e.source, e.to, when=e.when, max_loops=e.max_loops, broadcast=e.broadcast,
                       kinds=sorted(e.kinds))
        return g

    def out_edges(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.source == name]

    def in_edges(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.to == name]

    def kinds(self) -> dict[str, list[Agent]]:
        out: dict[str, list[Agent]] = {}
        for agent in self.agents.values():
            out.setdefault(agent.kind, []).append(agent)
        return out


def resolve_team_path(name_or_path: str | Path) -> Path:
    """A built-in team name, or a path to a YAML file."""
    text = str(name_or_path)
    builtins = team_files()
    if text in builtins:
        return builtins[text]
    path = Path(text)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in text:
        return path
    raise ConfigError(f"{text}:1: no such team (built-in teams: {', '.join(builtins)}; or give a path)")


def load_team(name_or_path: str | Path) -> Team:
    path = resolve_team_path(name_or_path)
    raw = path.read_bytes() if path.is_file() else None
    data = load_yaml(path, raw)
    problems = check_graph(data, path)
    try:
        spec = validate_model(TeamSpec, data, path)
    except ConfigError as exc:
        raise ConfigError(_sorted_unique(exc.problems + problems)) from None
    if problems:
        raise ConfigError(_sorted_unique(problems))
    return _build(spec, data, path, hashlib.sha256(raw or b"").hexdigest())


def _sorted_unique(problems: list[str]) -> list[str]:
    def line(p: str) -> int:
        try:
            return int(p.split(":")[1])
        except (IndexError, ValueError):
            return 0

    return sorted(dict.fromkeys(problems), key=line)


def _resolve_roles(spec_roles: Mapping[str, Any]) -> dict[str, Role]:
    roles = dict(builtin_roles())
    pending = dict(spec_roles)
    while pending:
        progressed = False
        for name, r in list(pending.items()):
            base = roles.get(r.extends) if r.extends != name or name in builtin_roles() else None
            if base is None:
                continue
            roles[name] = base.extend(name, description=r.description, prompt=r.prompt, template=r.template,
                                      settings=r.settings)
            del pending[name]
            progressed = True
        if not progressed:
            break
    return roles


def _agent_role(role: Role, prompt: str | None, settings: Mapping[str, Any] | None) -> Role:
    if prompt:
        role = role.extend(role.name, prompt=(role.prompt + "\n" + prompt).strip())
    if settings:
        role = role.extend(role.name, settings=settings)
    return role.extend(role.name, settings=check_settings(role.kind, role.settings))


def _build(spec: TeamSpec, data: Mapping[str, Any], path: Path, digest: str) -> Team:
    roles = _resolve_roles(spec.roles)
    agents = {}
    for name, a in spec.agents.items():
        overrides = {k: v for k, v in a.model_dump(exclude={"role", "replicas", "prompt", "settings"}).items()
                     if v is not None}
        agents[name] = Agent(name, _agent_role(roles[a.role], a.prompt, a.settings), a.replicas,
                             spec.defaults.model_copy(update=overrides))
    raw_edges = [(i, {"from": e.source, "to": e.to, "max_loops": e.max_loops}) for i, e in enumerate(spec.edges)]
    back = loop_backs(spec.agents, raw_edges)
    entries = entry_agents(data, spec.agents, raw_edges, {n: a.kind for n, a in agents.items()})
    _, carried = received_kinds({n: a.kind for n, a in agents.items()}, raw_edges, entries)
    edges = tuple(Edge(e.source, e.to, _when(e.when), e.max_loops, e.broadcast, i, i in back,
                       carried[i]) for i, e in enumerate(spec.edges))
    budget = {k: float(v) for k, v in spec.budget.model_dump().items() if v is not None}
    return Team(spec.name, spec.description, path, MappingProxyType(agents), edges, tuple(entries), spec.merge,
                spec.stop.rounds, spec.stop.plateau, MappingProxyType(budget), digest, spec)


def _when(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)
