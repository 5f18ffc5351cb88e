"""The graph pass over a raw team mapping (before pydantic, so every problem keeps its line): unknown roles
and agents, role settings, entry agents, unbounded cycles, and the payload flow — which kinds of message
can travel each edge, agents that can never receive one, edges that carry nothing their target takes,
engineers whose results reach no critic or editor. One `FILE:LINE: what is wrong` line per problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from groundwork.yamlio import line_of
from roles.flow import DECISIONS, edge_kinds, makes_decisions, takes
from roles.library import builtin_roles, check_settings
from roles.settings import is_label_name

__all__ = ["check_graph", "role_kinds", "entry_agents", "loop_backs", "received_kinds", "agent_labels", "a_or_an",
           "NAME_PATTERN"]

NAME_PATTERN = r"^[a-z0-9_-]+$"  # team and agent names: they become parts of folder names and transcripts


def a_or_an(word: str) -> str:
    """`a critic`, `an engineer`."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def check_graph(data: Mapping[str, Any], path: Path) -> list[str]:
    """Graph problems of a raw (not yet validated) team mapping, each as `FILE:LINE: ...`."""
    agents = data.get("agents") if isinstance(data.get("agents"), Mapping) else {}
    roles = data.get("roles") if isinstance(data.get("roles"), Mapping) else {}
    problems = _check_names(data, agents, path) + _check_roles(data, roles, path)
    kinds = role_kinds(agents, roles)
    for name, spec in agents.items():
        role = spec.get("role") if isinstance(spec, Mapping) else None
        if isinstance(role, str) and name not in kinds:
            known = sorted(set(builtin_roles()) | {str(r) for r in roles})
            problems.append(f"{path}:{line_of(data, ('agents', name, 'role'))}: agent {name!r}: unknown role "
                            f"{role!r} (known: {', '.join(known)})")
    problems += _check_settings(data, agents, roles, kinds, path)
    if "agents" in data and not isinstance(data["agents"], Mapping):
        return problems  # the schema says what agents should be; every edge's agent would be "unknown"
    good, edge_problems = _known_edges(data, agents, path)
    problems += edge_problems + _duplicate_edges(data, good, path)
    problems += _unbounded_cycles(data, agents, good, path)
    if len(kinds) == len(agents) and not edge_problems and _well_formed(data):  # else the flow's problems
        problems += _check_flow(data, agents, good, kinds, path)  # would be echoes of the ones above
    return problems


def _well_formed(data: Mapping[str, Any]) -> bool:
    """The agents and edges pass the schema: only then is the payload flow worth checking (an edge with
    `max_loops: 0` would otherwise also make its target "unreachable")."""
    from pydantic import ValidationError

    from team.config.spec import AgentSpec, EdgeSpec

    agents, edges = data.get("agents"), data.get("edges", [])
    if not isinstance(agents, Mapping) or not agents or not isinstance(edges, list):
        return False
    try:
        for spec in agents.values():
            AgentSpec.model_validate(spec)
        for edge in edges:
            EdgeSpec.model_validate(edge)
    except ValidationError:
        return False
    return True


def _check_names(data: Mapping[str, Any], agents: Mapping[str, Any], path: Path) -> list[str]:
    """Team and agent names are `[a-z0-9_-]`: a team's name becomes part of its run folder's name."""
    def fix(name: str) -> str:
        return re.sub(r"[^a-z0-9_-]+", "_", name.lower()).strip("_") or "x"

    out = []
    name = data.get("name")
    if isinstance(name, str) and name and not re.match(NAME_PATTERN, name):
        out.append(f"{path}:{line_of(data, ('name',))}: name {name!r}: a team name holds only a-z, 0-9, '-' and "
                   f"'_' (it names the run folder), e.g. {fix(name)}")
    for agent in agents:
        if isinstance(agent, str) and not re.match(NAME_PATTERN, agent):
            out.append(f"{path}:{line_of(data, ('agents', agent))}: agent {agent!r}: an agent name holds only a-z, "
                       f"0-9, '-' and '_', e.g. {fix(agent)}")
    return out


def _duplicate_edges(data: Mapping[str, Any], edges: list[tuple[int, Mapping]], path: Path) -> list[str]:
    """Two edges with the same ends and the same `when` would carry every message twice."""
    seen: dict[tuple, int] = {}
    out = []
    for i, e in edges:
        when = e.get("when")
        whens = tuple(sorted(map(str, when))) if isinstance(when, list) else (str(when),) if when else None
        key = (e["from"], e["to"], whens)
        if key in seen:
            j = seen[key]
            out.append(f"{path}:{line_of(data, ('edges', i))}: edges[{i}] {e['from']} -> {e['to']}: the same edge as "
                       f"edges[{j}] (line {line_of(data, ('edges', j))}): every message would travel twice (remove "
                       "one)")
        else:
            seen[key] = i
    return out


def role_kinds(agents: Mapping[str, Any], roles: Mapping[str, Any]) -> dict[str, str]:
    """agent name -> role kind, for agents whose role (built-in or extended in the file) resolves."""
    base = {name: r.kind for name, r in builtin_roles().items()}
    pending = {str(n): s.get("extends") for n, s in roles.items() if isinstance(s, Mapping)}
    for _ in range(len(pending) + 1):
        for name, parent in list(pending.items()):
            if parent in base and (name not in builtin_roles() or parent == name):
                base[name] = base[parent]
                del pending[name]
    return {str(a): base[s["role"]] for a, s in agents.items()
            if isinstance(s, Mapping) and isinstance(s.get("role"), str) and s["role"] in base}


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


def _check_settings(data: Mapping[str, Any], agents: Mapping[str, Any], roles: Mapping[str, Any],
                    kinds: Mapping[str, str], path: Path) -> list[str]:
    """Settings on roles and agents, checked against the role kind's settings model."""
    problems = []
    role_kind = role_kinds({n: {"role": n} for n in roles}, roles)
    for where, name, spec, kind in [("roles", n, s, role_kind.get(str(n))) for n, s in roles.items()] + \
            [("agents", n, s, kinds.get(str(n))) for n, s in agents.items()]:
        settings = spec.get("settings") if isinstance(spec, Mapping) else None
        if not isinstance(settings, Mapping) or kind is None:
            continue
        try:
            check_settings(kind, settings)
        except ValueError as exc:
            problems.append(f"{path}:{line_of(data, (where, name, 'settings'))}: {where[:-1]} {name!r}: {exc}")
    return problems


def _known_edges(data: Mapping[str, Any], agents: Mapping[str, Any], path: Path) -> tuple[list, list[str]]:
    good, problems = [], []
    for i, e in enumerate(data.get("edges") or [] if isinstance(data.get("edges"), list) else []):
        if not isinstance(e, Mapping):
            continue
        ok = True
        for end in ("from", "to"):
            name = e.get(end)
            if isinstance(name, str) and name not in agents:
                problems.append(f"{path}:{line_of(data, ('edges', i, end))}: edges[{i}].{end}: unknown agent "
                                f"{name!r} (agents: {', '.join(map(str, agents))})")
            ok = ok and isinstance(name, str) and name in agents
        if ok:
            good.append((i, e))
    return good, problems


def loop_backs(agents: Mapping[str, Any], edges: list[tuple[int, Mapping[str, Any]]]) -> set[int]:
    """Indices of edges that close a cycle and carry max_loops: a lineage may cross them a bounded number
    of times. Removing them leaves the graph's forward flow."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(str(a) for a in agents)
    for i, e in edges:
        g.add_edge(e["from"], e["to"], key=i)
    cyclic = {k for comp in nx.strongly_connected_components(g) for u, v, k in g.subgraph(comp).edges(keys=True)}
    return {i for i, e in edges if i in cyclic and isinstance(e.get("max_loops"), int)}


def entry_agents(data: Mapping[str, Any], agents: Mapping[str, Any], edges: list[tuple[int, Mapping]],
                 kinds: Mapping[str, str] | None = None) -> list[str]:
    """The agents that plan independently: `entry:` when given, else every agent whose only incoming
    edges are bounded loop-backs (and whose kind can start a run, when `kinds` is given)."""
    if isinstance(data.get("entry"), str):
        return [data["entry"]]
    back = loop_backs(agents, edges)
    fed = {e["to"] for i, e in edges if i not in back}
    free = [str(a) for a in agents if a not in fed]
    return [a for a in free if kinds is None or takes(kinds.get(a, ""), "start")]


def _unbounded_cycles(data: Mapping[str, Any], agents: Mapping[str, Any], edges: list, path: Path) -> list[str]:
    """A cycle is allowed only when one of its edges has max_loops: look for cycles among the rest."""
    free = nx.MultiDiGraph()
    free.add_nodes_from(str(a) for a in agents)
    free.add_edges_from((e["from"], e["to"], {"index": i}) for i, e in edges if e.get("max_loops") is None)
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


def received_kinds(kinds: Mapping[str, str], edges: list[tuple[int, Mapping]], entries: list[str]
                   ) -> tuple[dict[str, frozenset[str]], dict[int, frozenset[str]]]:
    """The fixpoint of what can reach each agent (entries get `start`) and what can travel each edge."""
    got = {a: frozenset({"start"}) if a in entries else frozenset() for a in kinds}
    carried: dict[int, frozenset[str]] = {i: frozenset() for i, _ in edges}
    changed = True
    while changed:
        changed = False
        for i, e in edges:
            u, v = e["from"], e["to"]
            now = edge_kinds(kinds[u], kinds[v], got[u])
            if now != carried[i] or not now <= got[v]:
                carried[i], got[v], changed = now, got[v] | now, True
    return got, carried


def _check_flow(data: Mapping[str, Any], agents: Mapping[str, Any], edges: list[tuple[int, Mapping]],
                kinds: Mapping[str, str], path: Path) -> list[str]:
    problems = []
    entries = entry_agents(data, agents, edges, kinds)
    if isinstance(data.get("entry"), str) and data["entry"] not in agents:
        return [f"{path}:{line_of(data, ('entry',))}: entry: unknown agent {data['entry']!r}"]
    if isinstance(data.get("entry"), str) and not takes(kinds[data["entry"]], "start"):
        return [f"{path}:{line_of(data, ('entry',))}: entry: {a_or_an(kinds[data['entry']])} cannot start a run"]
    for name in set(entry_agents(data, agents, edges)) - set(entries):
        problems.append(f"{path}:{line_of(data, ('agents', name))}: agent {name!r} is unreachable: it has no incoming "
                        f"edge, and {a_or_an(kinds[name])} cannot start a run (directors, engineers, solo agents and "
                        "samplers can)")
    if not entries:
        return problems + [f"{path}:{line_of(data, ('edges',))}: no entry agent: every agent has an incoming edge that is not "
                "a bounded loop-back (set entry: or add max_loops to the edge that closes the loop)"]
    got, carried = received_kinds(kinds, edges, entries)
    for name in agents:
        if not got[str(name)] and not any(f"agent {name!r} is unreachable" in p for p in problems):
            problems.append(f"{path}:{line_of(data, ('agents', name))}: agent {name!r} is unreachable: no edge "
                            f"brings it a message it can take (entry agents: {', '.join(entries)})")
    labels = agent_labels(agents, data.get("roles") if isinstance(data.get("roles"), Mapping) else {}, kinds)
    for i, e in edges:
        problems += _edge_problems(data, i, e, kinds, got, carried, path, labels)
    problems += _unrouted_labels(data, agents, edges, labels, path)
    problems += _unjudged_results(data, agents, edges, kinds, path)
    problems += _one_editor(data, agents, kinds, path)
    return problems


def _whens(edge: Mapping[str, Any]) -> list[Any]:
    when = edge.get("when")
    return [] if when is None else list(when) if isinstance(when, list) else [when]


def agent_labels(agents: Mapping[str, Any], roles: Mapping[str, Any], kinds: Mapping[str, str]) -> dict[str, list]:
    """critic agent -> the labels it declares, from its role's settings (through `extends`) and its own."""
    def role_settings(name: Any, seen: frozenset = frozenset()) -> dict:
        spec = roles.get(name)
        if not isinstance(spec, Mapping) or name in seen:  # a built-in role (or one extending itself)
            builtin = builtin_roles().get(str(name))
            return dict(builtin.settings) if builtin else {}
        parent = spec.get("extends")
        base = role_settings(parent, seen | {name}) if isinstance(parent, str) else {}
        own = spec.get("settings")
        return {**base, **own} if isinstance(own, Mapping) else base

    out = {}
    for name, spec in agents.items():
        if kinds.get(str(name)) != "critic" or not isinstance(spec, Mapping):
            continue
        own = spec.get("settings") if isinstance(spec.get("settings"), Mapping) else {}
        labels = {**role_settings(spec.get("role")), **own}.get("labels")
        if isinstance(labels, Mapping):
            out[str(name)] = [str(k) for k in labels]
    return out


def _unrouted_labels(data: Mapping[str, Any], agents: Mapping[str, Any], edges: list[tuple[int, Mapping]],
                     labels: Mapping[str, list], path: Path) -> list[str]:
    """A label no out-edge of its critic carries would send its verdicts nowhere: a typo, most likely."""
    out = []
    for name, declared in labels.items():
        whens = [_whens(e) for _, e in edges if e["from"] == name]
        for label in declared:
            if not any(not w or label in w for w in whens):
                out.append(f"{path}:{line_of(data, ('agents', name))}: agent {name!r}: label {label!r} is routed by "
                           f"no edge (give an edge from {name} `when: {label}`, or drop the label)")
    return out


def _one_editor(data: Mapping[str, Any], agents: Mapping[str, Any], kinds: Mapping[str, str], path: Path) -> list[str]:
    """A team has one final model, so at most one editor (with one replica) decides it."""
    editors = [a for a, k in kinds.items() if k == "editor"]
    out = [f"{path}:{line_of(data, ('agents', name))}: agent {name!r}: a second editor (a team has one final "
           f"model; {editors[0]!r} already merges it)" for name in editors[1:]]
    for name in editors:
        spec = agents.get(name)
        if isinstance(spec, Mapping) and isinstance(spec.get("replicas"), int) and spec["replicas"] > 1:
            out.append(f"{path}:{line_of(data, ('agents', name, 'replicas'))}: agent {name!r}: an editor has one "
                       "replica (a team has one final model)")
    return out


def _edge_problems(data: Mapping[str, Any], i: int, e: Mapping[str, Any], kinds: Mapping[str, str],
                   got: Mapping[str, frozenset[str]], carried: Mapping[int, frozenset[str]], path: Path,
                   labels: Mapping[str, list]) -> list[str]:
    u, v = e["from"], e["to"]
    where = f"{path}:{line_of(data, ('edges', i))}: edges[{i}] {u} -> {v}"
    out = []
    if e.get("when") is not None and not makes_decisions(kinds[u]):
        out.append(f"{where}: `when` routes a decision, and only a critic's verdicts carry one ({u} is "
                   f"{a_or_an(kinds[u])})")
    elif e.get("when") is not None:
        declared = labels.get(u, [])
        for item in _whens(e):
            if is_label_name(item) and item not in DECISIONS and item not in declared:  # (other names: the spec's line)
                out.append(f"{path}:{line_of(data, ('edges', i, 'when'))}: edges[{i}] {u} -> {v}: `when: {item}` is "
                           f"not a decision {u} makes: accept, revise, reject"
                           + (f" or its labels {', '.join(declared)}" if declared else
                              f", or a label declared in {u}'s settings (labels: {{{item}: {{means: reject}}}})"))
    if got[u] and not carried[i]:
        out.append(f"{where}: carries nothing {v} can take ({a_or_an(kinds[u])} that receives "
                   f"{', '.join(sorted(got[u]))} sends no payload {a_or_an(kinds[v])} has a handler for)")
    return out


def _unjudged_results(data: Mapping[str, Any], agents: Mapping[str, Any], edges: list[tuple[int, Mapping]],
                      kinds: Mapping[str, str], path: Path) -> list[str]:
    """Every engineer's results must be able to reach a critic or an editor (else nobody judges them)."""
    g = nx.DiGraph((e["from"], e["to"]) for _, e in edges)
    judges = {a for a, k in kinds.items() if k in ("critic", "editor")}
    out = []
    for name, kind in kinds.items():
        if kind == "engineer" and not (nx.descendants(g, name) & judges if name in g else set()):
            out.append(f"{path}:{line_of(data, ('agents', name))}: agent {name!r} is an engineer whose results reach "
                       "no critic or editor: nobody would judge them (add an edge to a critic or an editor)")
    return out
