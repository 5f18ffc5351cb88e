"""Draw a team's role graph: as text for the terminal, as a PNG for reports."""

from __future__ import annotations

from pathlib import Path

from team.config.topology import Team
from team.views.units import budget_value

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
        lines.append("budget: " + ", ".join(f"{k} {budget_value(k, v)}" for k, v in team.budget.items()))
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
             areas: dict[str, tuple[int, int, int]] | None = None,
             boxes: dict[str, tuple[int, int, int, int]] | None = None) -> Path:
    """The picture: each agent a circle (its role, its replicas), each edge an arrow labelled with its
    condition and, given `counts`, the messages that crossed it. `areas`, when given, is filled with each
    agent's circle in image pixels (x, y, r), and `boxes` with each edge label's box (left, top, right,
    bottom; keyed "source->to"), for an HTML image map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = team.graph()
    simple = nx.DiGraph(g)
    pos = nx.circular_layout(simple) if len(simple) > 2 else nx.spring_layout(simple, seed=0)
    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=100)
    labels = {n: f"{n}\n({d['role']}" + (f" ×{d['replicas']}" if d["replicas"] > 1 else "") + ")"
              for n, d in g.nodes(data=True)}
    nx.draw_networkx_nodes(simple, pos, ax=ax, node_size=NODE_SIZE, node_color="#dbe9f6", edgecolors="#3b6ea5")
    nx.draw_networkx_labels(simple, pos, labels, ax=ax, font_size=9)
    nx.draw_networkx_edges(simple, pos, ax=ax, arrows=True, arrowsize=16, node_size=NODE_SIZE,
                           connectionstyle=CURVE, edge_color="#555")
    drawn = nx.draw_networkx_edge_labels(simple, pos, _edge_labels(team, counts), ax=ax, font_size=8, label_pos=0.5,
                                 connectionstyle=CURVE, rotate=False,
                                 bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#bbb", "alpha": 0.95})
    _frame(ax, pos, team, counts is not None)
    fig.tight_layout()
    if areas is not None:
        areas.update(_node_areas(fig, ax, pos))
    if boxes is not None:
        boxes.update(_label_boxes(fig, drawn))
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


NODE_SIZE = 3800  # points squared
CURVE = "arc3,rad=0.18"  # both directions of a pair of edges curve apart, and so do their labels


def _edge_labels(team: Team, counts: dict[str, int] | None) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for e in team.edges:
        label = _edge_label(e).strip(" []")
        if counts is not None:
            n = counts.get(e.name, 0)
            label = (label + "\n" if label else "") + f"{n} message{'s' * (n != 1)}"
        if label:
            out[(e.source, e.to)] = (out.get((e.source, e.to), "") + "\n" + label).strip()
    return out


def _frame(ax, pos, team: Team, counted: bool) -> None:
    """Room around the circles so no label is cut at the picture's edge, a title and a legend."""
    from matplotlib.lines import Line2D

    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    pad_x, pad_y = max(0.45, 0.3 * (max(xs) - min(xs))), max(0.35, 0.25 * (max(ys) - min(ys)))
    ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
    ax.set_ylim(min(ys) - pad_y, max(ys) + pad_y)
    ax.set_title(f"team {team.name}")
    ax.axis("off")
    handles = [Line2D([], [], marker="o", ls="", markersize=11, markerfacecolor="#dbe9f6", markeredgecolor="#3b6ea5",
                      label="agent (role ×replicas)"),
               Line2D([], [], color="#555", marker=">", markersize=6,
                      label="edge: when / max_loops" + (", messages sent" if counted else ""))]
    ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=False)


def _node_areas(fig, ax, pos) -> dict[str, tuple[int, int, int]]:
    fig.canvas.draw()  # fixes the layout, so data coordinates map to the pixels savefig writes
    height = fig.get_size_inches()[1] * fig.dpi
    radius = int((NODE_SIZE / 3.14159) ** 0.5 * fig.dpi / 72)  # node_size is in points squared
    out = {}
    for node, xy in pos.items():
        x, y = ax.transData.transform(xy)
        out[str(node)] = (int(x), int(height - y), radius)
    return out


def _label_boxes(fig, drawn) -> dict[str, tuple[int, int, int, int]]:
    fig.canvas.draw()
    renderer, height = fig.canvas.get_renderer(), fig.get_size_inches()[1] * fig.dpi
    out = {}
    for (source, to), label in drawn.items():
        box = label.get_bbox_patch().get_window_extent(renderer) if label.get_bbox_patch() else \
            label.get_window_extent(renderer)
        out[f"{source}->{to}"] = (int(box.x0), int(height - box.y1), int(box.x1) + 1, int(height - box.y0) + 1)
    return out
