"""Role ablations: from one team file, one team per removable agent group, rewired so that it still runs —
what each role adds is then the paired difference of the full team against each ablation.

The rules (each ablated file is written under OUT/ablations/ and validated like any team file):

- **without a critic** (one that reviews results): whatever fed it now feeds what its accepted verdicts fed
  (`engineer -> critic -> editor` becomes `engineer -> editor`, which accepts every ok job); its revise
  loops go; a critic that reviews plans goes the same way (`director -> reviewer -> engineer` becomes
  `director -> engineer`);
- **without the editor**: what fed it now feeds where its log went (`critic -> editor -> director` becomes
  `critic -> director`, the verdicts as feedback, keeping the loop's max_loops); the harness keeps the best
  accepted result each round;
- **without a sub-director**: its parent sends to its engineers directly;
- **one engineer**: every engineer agent keeps one replica.

Entry agents are never removed; a team with one agent has nothing to ablate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from roles.settings import routed_as
from sandbox.errors import ConfigError

__all__ = ["ablations", "write_ablations"]


def ablations(team: Any) -> dict[str, dict]:
    """name -> raw team mapping of each ablation of `team` (a loaded Team)."""
    raw = _raw(team)
    out: dict[str, dict] = {}
    for name, agent in team.agents.items():
        if name in team.entries:
            continue
        if agent.kind in ("critic", "editor", "director"):
            out[f"no-{name}"] = _without(raw, name, team)
    if any(a.kind == "engineer" and a.replicas > 1 for a in team.agents.values()):
        one = _copy(raw)
        for name, spec in one["agents"].items():
            if team.agents[name].kind == "engineer":
                spec["replicas"] = 1
        out["one-engineer"] = one
    if not out:
        raise ConfigError(f"{team.path}:1: --ablate {team.name}: nothing to remove (a team needs an agent besides its "
                          "entry agents, or an engineer with replicas)")
    return out


def write_ablations(team: Any, out: Path) -> dict[str, Path]:
    """Write each ablation as a team file and check it loads; returns arm name -> path."""
    from team.config.topology import load_team

    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    yaml = YAML()
    yaml.default_flow_style = None
    for name, raw in ablations(team).items():
        path = out / f"{team.name}-{name}.yaml"
        raw["name"] = f"{team.name}-{name}"
        raw["description"] = f"{team.name} {name.replace('-', ' ')} (ablation)"
        with path.open("w") as handle:
            yaml.dump(raw, handle)
        try:
            load_team(path)
        except ConfigError as exc:
            raise ConfigError([f"{path}:1: the ablation {name} of {team.name} does not validate:"] + exc.problems) from None
        paths[name] = path
    return paths


def _raw(team: Any) -> dict:
    data = YAML(typ="safe").load(Path(team.path).read_text())
    data.setdefault("edges", [])
    return data


def _copy(raw: Mapping) -> dict:
    import copy

    return copy.deepcopy(dict(raw))


def _without(raw: Mapping, name: str, team: Any) -> dict:
    """The team without agent `name`: its incoming edges rewired to where its output went."""
    data = _copy(raw)
    edges = data["edges"]
    into = [e for e in edges if e["to"] == name and e["from"] != name]
    accepts = routed_as(team.agents[name].settings, "accept")
    onward = [e for e in edges if e["from"] == name and e["to"] != name and _carries_on(e, accepts)]
    kept = [e for e in edges if name not in (e["from"], e["to"])]
    for a in into:
        for b in onward:
            if a["from"] == b["to"] and not (a.get("max_loops") or b.get("max_loops")):
                continue  # a loop back to the sender without a bound: drop it rather than make a free cycle
            edge = {"from": a["from"], "to": b["to"]}
            for key in ("when", "max_loops", "broadcast"):
                value = a.get(key) if key == "when" else b.get(key) or (a.get(key) if key == "max_loops" else None)
                if value:
                    edge[key] = value
            if edge not in kept and edge["from"] != edge["to"]:
                kept.append(edge)
    data["edges"] = kept
    del data["agents"][name]
    return data


def _carries_on(edge: Mapping, accepts: set[str]) -> bool:
    """An edge that passes the agent's work on (not a revise loop back): no `when`, or one naming accept (or a
    label that means accept)."""
    when = edge.get("when")
    whens = [when] if isinstance(when, str) else list(when or [])
    return not whens or bool(accepts & set(whens))
