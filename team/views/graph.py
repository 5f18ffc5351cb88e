"""Draw a team's role graph: as text for the terminal, as a PNG for reports."""

from __future__ import annotations

from pathlib import Path

from team.config.topology import Team

__all__ = ["graph_text", "draw_png"]


def _edge_label(e) -> str:
    bits = [f"when {'|'.join(e.when)}"] if e.when else []
    if e.max_loops:
        bits.append(f"max_loops {e.max_loops}")
    if e.broadcast:
        bits.append("broadcast")
    return f"  [{', '.join(bits)}]" if bits else ""


def graph_text(team: Team) -> str:
    lines = [f"team {team.name}: {team.description}".rstrip(": "),
             f"entry: {', '.join(team.entries)}   merge: {team.merge}   stop: {team.rounds} rounds"
             + (f", plateau {team.plateau}" if team.plateau else "")]
    if team.budget:
        lines.append("budget: " + ", ".join(f"{k}={v:g}" for k, v in team.budget.items()))
    lines.append("agents:")
    for a in team.agents.values():
        role = a.role.name if a.role.name == a.kind else f"{a.role.name} (extends {a.kind})"
        reps = f" x{a.replicas}" if a.replicas > 1 else ""
        lines.append(f"  {a.name}{reps}: {role}, model {a.model.model}{_settings(a)}")
    lines.append("edges (and the payloads that travel them):")
    for e in team.edges:
        lines.append(f"  {e.source} -> {e.to}{_edge_label(e)}  carries: {', '.join(sorted(e.kinds)) or 'nothing'}")
    if not team.edges:
        lines.append("  (none)")
    return "\n".join(lines)


def _settings(agent) -> str:
    from roles.library import builtin_roles

    base = builtin_roles()[agent.kind].settings
    changed = {k: v for k, v in agent.settings.items() if base.get(k) != v}
    return f", settings {changed}" if changed else ""


def draw_png(team: Team, path: str | Path, counts: dict[str, int] | None = None,
             areas: dict[str, tuple[int, int, int]] | None = None) -> Path:
    """The picture; `areas`, when given, is filled with each agent's circle in image pixels (x, y, r), for
    an HTML image map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = team.graph()
    simple = nx.DiGraph(g)
    pos = nx.circular_layout(simple) if len(simple) > 2 else nx.spring_layout(simple, seed=0)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    labels = {n: f"{n}\n({d['role']}" + (f" x{d['replicas']}" if d["replicas"] > 1 else "") + ")"
              for n, d in g.nodes(data=True)}
    nx.draw_networkx_nodes(simple, pos, ax=ax, node_size=2600, node_color="#dbe9f6", edgecolors="#3b6ea5")
    nx.draw_networkx_labels(simple, pos, labels, ax=ax, font_size=8)
    nx.draw_networkx_edges(simple, pos, ax=ax, arrows=True, arrowsize=16, node_size=2600,
                           connectionstyle="arc3,rad=0.12", edge_color="#555")
    edge_labels = {}
    for e in team.edges:
        label = _edge_label(e).strip(" []")
        if counts is not None:
            label = (label + "\n" if label else "") + f"{counts.get(e.name, 0)} messages"
        if label:
            edge_labels[(e.source, e.to)] = (edge_labels.get((e.source, e.to), "") + "\n" + label).strip()
    nx.draw_networkx_edge_labels(simple, pos, edge_labels, ax=ax, font_size=7, label_pos=0.4)
    ax.set_title(f"team {team.name}")
    ax.axis("off")
    fig.tight_layout()
    if areas is not None:
        areas.update(_node_areas(fig, ax, pos))
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def _node_areas(fig, ax, pos) -> dict[str, tuple[int, int, int]]:
    fig.canvas.draw()  # fixes the layout, so data coordinates map to the pixels savefig writes
    height = fig.get_size_inches()[1] * fig.dpi
    radius = int((2600 / 3.14159) ** 0.5 * fig.dpi / 72)  # node_size is in points squared
    out = {}
    for node, xy in pos.items():
        x, y = ax.transData.transform(xy)
        out[str(node)] = (int(x), int(height - y), radius)
    return out
