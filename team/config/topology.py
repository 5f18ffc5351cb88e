"""Load a team file into a checked role graph: schema v1 validation (pydantic), then a graph pass
(networkx) for unknown roles and agents, unreachable agents and unbounded cycles. Every problem of a
file is reported together, one `FILE:LINE: what is wrong` line each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from roles.library import Role, builtin_roles, team_files
from sandbox.errors import ConfigError
from tasks.yamlio import line_of, load_yaml, validate_model
from team.config.spec import ModelDefaults, TeamSpec

__all__ = ["Agent", "Edge", "Team", "load_team", "resolve_team_path", "check_graph"]


@dataclass(frozen=True)
class Agent:
    name: str
    role: Role
    replicas: int
    model: ModelDefaults  # the defaults with this agent's overrides applied

    @property
    def kind(self) -> str:
        return self.role.kind

    def replica_names(self) -> tuple[str, ...]:
        if self.replicas == 1:
            return (self.name,)
        return tuple(f"{self.name}[{i}]" for i in range(self.replicas))


@dataclass(frozen=True)
class Edge:
    source: str
    to: str
    when: str | None = None
    max_loops: int | None = None
    broadcast: bool = False


@dataclass(frozen=True)
class Team:
    name: str
    description: str
    path: Path | None
    agents: Mapping[str, Agent]
    edges: tuple[Edge, ...]
    entry: str
    merge: str
    rounds: int
    plateau: int | None
    budget: Mapping[str, float]
    digest: str
    spec: TeamSpec

    def graph(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph(name=self.name)
        for agent in self.agents.values():
            g.add_node(agent.name, role=agent.role.name, kind=agent.kind, replicas=agent.replicas)
        for e in self.edges:
            g.add_edge(e.source, e.to, when=e.when, max_loops=e.max_loops, broadcast=e.broadcast)
        return g

    def out_edges(self, name: str, when: str | None = None) -> list[Edge]:
        return [e for e in self.edges if e.source == name and (when is None or e.when in (None, when))]

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
    return _build(spec, path, hashlib.sha256(raw or b"").hexdigest())


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
            roles[name] = base.extend(name, description=r.description, prompt=r.prompt, template=r.template)
            del pending[name]
            progressed = True
        if not progressed:
            break
    return roles


def _build(spec: TeamSpec, path: Path, digest: str) -> Team:
    roles = _resolve_roles(spec.roles)
    agents = {}
    for name, a in spec.agents.items():
        overrides = {k: v for k, v in a.model_dump(exclude={"role", "replicas", "prompt"}).items() if v is not None}
        role = roles[a.role]
        if a.prompt:
            role = role.extend(role.name, prompt=(role.prompt + "\n" + a.prompt).strip())
        agents[name] = Agent(name, role, a.replicas, spec.defaults.model_copy(update=overrides))
    edges = tuple(Edge(e.source, e.to, e.when, e.max_loops, e.broadcast) for e in spec.edges)
    budget = {k: float(v) for k, v in spec.budget.model_dump().items() if v is not None}
    return Team(spec.name, spec.description, path, agents, edges, spec.entry or next(iter(spec.agents)),
                spec.merge, spec.stop.rounds, spec.stop.plateau, budget, digest, spec)


def check_graph(data: Mapping[str, Any], path: Path) -> list[str]:
    """Graph problems of a raw (not yet validated) team mapping, each as `FILE:LINE: ...`."""
    agents = data.get("agents") if isinstance(data.get("agents"), Mapping) else {}
    roles = data.get("roles") if isinstance(data.get("roles"), Mapping) else {}
    edges = data.get("edges") if isinstance(data.get("edges"), list) else []
    problems = _check_roles(data, roles, path)
    known_roles = set(builtin_roles()) | {str(r) for r in roles}
    for name, spec in agents.items():
        role = spec.get("role") if isinstance(spec, Mapping) else None
        if isinstance(role, str) and role not in known_roles:
            problems.append(f"{path}:{line_of(data, ('agents', name, 'role'))}: agent {name!r}: unknown role "
                            f"{role!r} (known: {', '.join(sorted(known_roles))})")
    problems += _check_edges(data, agents, edges, path)
    return problems


def _check_roles(data: Mapping[str, Any], roles: Mapping[str, Any], path: Path) -> list[str]:
    problems = []
    known = set(builtin_roles()) | {str(r) for r in roles}
    for name, spec in roles.items():
        base = spec.get("extends") if isinstance(spec, Mapping) else None
        if not isinstance(base, str):
            continue
        if base not in known or (base == name and name not in builtin_roles()):
            problems.append(f"{path}:{line_of(data, ('roles', name, 'extends'))}: role {name!r} extends unknown "
                            f"role {base!r}")
    graph = nx.DiGraph((str(n), s.get("extends")) for n, s in roles.items()
                       if isinstance(s, Mapping) and isinstance(s.get("extends"), str) and s.get("extends") != n)
    for cycle in nx.simple_cycles(graph):
        problems.append(f"{path}:{line_of(data, ('roles', cycle[0]))}: roles extend each other in a cycle: "
                        f"{' -> '.join(cycle + [cycle[0]])}")
    return problems


def _check_edges(data: Mapping[str, Any], agents: Mapping[str, Any], edges: list, path: Path) -> list[str]:
    problems, g = [], nx.MultiDiGraph()
    g.add_nodes_from(str(a) for a in agents)
    for i, e in enumerate(edges):
        if not isinstance(e, Mapping):
            continue
        ok = True
        for end in ("from", "to"):
            name = e.get(end)
            if isinstance(name, str) and name not in agents:
                problems.append(f"{path}:{line_of(data, ('edges', i, end))}: edges[{i}].{end}: unknown agent "
                                f"{name!r} (agents: {', '.join(map(str, agents))})")
                ok = False
            elif not isinstance(name, str):
                ok = False
        if ok:
            g.add_edge(e["from"], e["to"], index=i, bounded=isinstance(e.get("max_loops"), int))
    entry = data.get("entry") if isinstance(data.get("entry"), str) else next(iter(agents), None)
    if isinstance(data.get("entry"), str) and entry not in agents:
        problems.append(f"{path}:{line_of(data, ('entry',))}: entry: unknown agent {entry!r}")
    elif entry is not None:
        reachable = nx.descendants(g, entry) | {entry}
        for name in agents:
            if name not in reachable:
                problems.append(f"{path}:{line_of(data, ('agents', name))}: agent {name!r} is unreachable from "
                                f"the entry agent {entry!r}")
    problems += _unbounded_cycles(data, g, path)
    return problems


def _unbounded_cycles(data: Mapping[str, Any], g: nx.MultiDiGraph, path: Path) -> list[str]:
    """A cycle is allowed only when one of its edges has max_loops: look for cycles among the rest."""
    free = nx.MultiDiGraph()
    free.add_nodes_from(g)
    free.add_edges_from((u, v, d) for u, v, d in g.edges(data=True) if not d["bounded"])
    problems = []
    for component in nx.strongly_connected_components(free):
        sub = free.subgraph(component)
        if len(component) == 1 and not sub.number_of_edges():
            continue
        cycle = nx.find_cycle(sub)
        first = min(free.get_edge_data(u, v)[k]["index"] for u, v, k in cycle)
        names = [u for u, _, _ in cycle] + [cycle[0][0]]
        problems.append(f"{path}:{line_of(data, ('edges', first))}: cycle without max_loops: "
                        f"{' -> '.join(names)} (add max_loops to one of its edges)")
    return problems
