"""Draw a team's role graph: as text for the terminal, as a PNG for reports."""

from __future__ import annotations

from pathlib import Path

from team.config.topology import Team

__all__ = ["graph_text", "draw_png"]


def _edge_label(e) -> str:
    bits = [f"when {e.when}"] if e.when else []
    if e.max_loops:
        bits.append(f"max_loops {e.max_loops}")
    if e.broadcast:
        bits.append("broadcast")
    return f"  [{', '.join(bits)}]" if bits else ""


def graph_text(team: Team) -> str:
    lines = [f"team {team.name}: {team.description}".rstrip(": "),
             f"entry: {team.entry}   merge: {team.merge}   stop: {team.rounds} rounds"
             + (f", plateau {team.plateau}" if team.plateau else "")]
    if team.budget:
        lines.append("budget: " + ", ".join(f"{k}={v:g}" for k, v in team.budget.items()))
    lines.append("agents:")
    for a in team.agents.values():
        role = a.role.name if a.role.name == a.kind else f"{a.role.name} (extends {a.kind})"
        reps = f" x{a.replicas}" if a.replicas > 1 else ""
        lines.append(f"  {a.name}{reps}: {role}, model {a.model.model}")
    lines.append("edges:")
    for e in team.edges:
        lines.append(f"  {e.source} -> {e.to}{_edge_label(e)}")
    if not team.edges:
        lines.append("  (none)")
    return "\n".join(lines)


def draw_png(team: Team, path: str | Path) -> Path:
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
    edge_labels = {(e.source, e.to): _edge_label(e).strip(" []") for e in team.edges if _edge_label(e)}
    nx.draw_networkx_edge_labels(simple, pos, edge_labels, ax=ax, font_size=7, label_pos=0.4)
    ax.set_title(f"team {team.name}")
    ax.axis("off")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
