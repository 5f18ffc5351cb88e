"""The report of a run, from its files alone: report.md, report.html, and plots (score over time, each job's
dev curve, the role graph with the messages that crossed each edge, spend per role). It shows the graph at
work: messages per edge, and each agent's calls, jobs, tokens and job-seconds. It can be rebuilt from any
run directory.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

from team.engine.events import read_events
from team.views.transcripts import write_transcripts

__all__ = ["write_report"]


def write_report(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    rows = read_events(run_dir / "events.jsonl")
    result = _load(run_dir / "result.json")
    manifest = _load(run_dir / "manifest.json")
    pages = {agent: p.relative_to(run_dir).as_posix() for agent, p in write_transcripts(run_dir).items()}
    areas: dict[str, tuple[int, int, int]] = {}
    plots = _plots(run_dir, rows, result, manifest, areas)
    md = _markdown(rows, result, manifest, plots, run_dir, pages)
    (run_dir / "report.md").write_text(md, encoding="utf-8")
    (run_dir / "report.html").write_text(_html(md, run_dir, plots, _graph_links(pages, areas, result)),
                                         encoding="utf-8")
    return run_dir / "report.md"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _jobs(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("event") == "job_finished" and r.get("kind") != "dev_eval"]


def _markdown(rows: list[dict], result: dict, manifest: dict, plots: dict[str, str], run_dir: Path,
              pages: dict[str, str]) -> str:
    lines = _header(result, manifest) + _who_decided(result, pages) + _graph_at_work(rows, result)
    lines += _experiments(rows) + _tree(rows) + _final_diff(run_dir, rows, result) + _kept(rows)
    lines += ["", "## Spend per role", "", "| role | job-seconds | tokens | usd | model calls (turns) |", "|---|---|---|---|---|"]
    for role, spend in sorted(result.get("spend_by_role", {}).items()):
        lines.append(f"| {role or 'harness'} | {spend.get('job_seconds', 0):.1f} | {spend.get('tokens', 0):.0f} | "
                     f"{spend.get('usd', 0):.4f} | {spend.get('model_calls', 0):.0f} |")
    lines += ["", "## Plots", ""] + [f"![{name}]({Path(p).name})" for name, p in plots.items()]
    return "\n".join(lines) + "\n"


def _header(result: dict, manifest: dict) -> list[str]:
    return [f"# Run {manifest.get('run_id', '')}: team {result.get('team')} on task {result.get('task')}", "",
            f"- backend: {', '.join(result.get('backend', []))} (seed {result.get('seed')}, prior "
            f"{result.get('prior', 'reference')})",
            f"- baseline test score: {_f(result.get('baseline_score'))}; **final test score: "
            f"{_f(result.get('test_score'))}** (n={result.get('n')}, scored by the verifier on the sealed split)",
            f"- final model: {', '.join(result.get('final_members', [])) or 'none'} "
            f"(dev {_f(result.get('dev_score'))})",
            f"- flags: {', '.join(f['flag'] + ': ' + f['reason'] for f in result.get('flags', [])) or 'none'}",
            f"- {result.get('control') or 'decisions: -'}",
            f"- stopped: {result.get('stop_reason', '')}",
            f"- budget used: {_budget(result)}",
            f"- device busy share: {_f(result.get('device_busy_share'))}; model errors "
            f"{result.get('faults', {}).get('model_errors', 0)}, scripted fallbacks "
            f"{result.get('faults', {}).get('fallbacks', 0)}"]


def _who_decided(result: dict, pages: dict[str, str]) -> list[str]:
    """Per role: decisions the model made (at once, after repair turns), scripted fallbacks and why."""
    lines = ["", "## Who decided", "", result.get("control") or "", "",
             "| role | model | repaired | fallback | scripted | repair turns | why it fell back |",
             "|---|---|---|---|---|---|---|"]
    for role, d in sorted(result.get("decisions", {}).items()):
        why = "; ".join(f"{n}× {w}" for w, n in d.get("why", {}).items()).replace("|", "/") or "-"
        lines.append(f"| {role} | {d.get('model', 0)} | {d.get('repaired', 0)} | {d.get('fallback', 0)} | "
                     f"{d.get('scripted', 0)} | {d.get('repair_turns', 0)} | {why} |")
    if pages:
        lines += ["", "Conversations (every prompt, raw reply, repair turn and decision):", ""]
        lines += [f"- [{agent}]({page})" for agent, page in sorted(pages.items())]
    return lines


def _graph_links(pages: dict[str, str], areas: dict[str, tuple[int, int, int]], result: dict) -> str:
    """An image map over the role graph's agents and a list beside it, each opening the agent's conversations."""
    spots = "".join(f'<area shape="circle" coords="{x},{y},{r}" href="{html.escape(pages[a])}" alt="{html.escape(a)}">'
                    for a, (x, y, r) in areas.items() if a in pages)
    items = "".join(f'<li><a href="{html.escape(p)}">{html.escape(a)}</a></li>' for a, p in sorted(pages.items()))
    return (f'<map name="roles">{spots}</map><div class="agents"><b>Conversations</b> (click an agent)'
            f"<ul>{items}</ul></div>") if pages else ""


def _graph_at_work(rows: list[dict], result: dict) -> list[str]:
    lines = ["", "## The graph at work", "", "| edge | payloads | messages |", "|---|---|---|"]
    for edge, (kinds, n) in sorted(edge_counts(rows).items()):
        lines.append(f"| {edge} | {', '.join(sorted(kinds))} | {n} |")
    lines += ["", "| agent | decisions | jobs | tokens | job-seconds |", "|---|---|---|---|---|"]
    spend = result.get("spend_by_agent", {})
    for agent, row in sorted(agent_table(rows, spend).items()):
        lines.append(f"| {agent} | {row['calls']} | {row['jobs']} | {row['tokens']:.0f} | {row['job_seconds']:.1f} |")
    return lines


def _experiments(rows: list[dict]) -> list[str]:
    verdicts = {r["job_id"]: r for r in rows if r.get("event") == "verdict" and r.get("job_id")}
    lines = ["", "## Experiments", "", "| round | job | agent | status | dev | verdict | config |",
             "|---|---|---|---|---|---|---|"]
    for job in _jobs(rows):
        v = verdicts.get(job["job_id"], {})
        config = job.get("outcome", {}).get("config", {})
        lines.append(f"| {job.get('round')} | {job['job_id']} | {job.get('agent')} | {job.get('status')} | "
                     f"{_f(job.get('dev_accuracy'))} | {v.get('decision', '-')} | `{json.dumps(config)}` |")
    return lines


def _tree(rows: list[dict]) -> list[str]:
    """The tree of attempts: each node once (a resumed session replays them), with its job's harness score."""
    nodes, scored = {}, {}
    for r in rows:
        if r.get("event") == "node":
            nodes.setdefault(r["id"], r)
        elif r.get("event") == "node_scored":
            scored[r["id"]] = r
    if not nodes:
        return []
    lines = ["", "## Tree of attempts", "", f"{len(nodes)} programs grown from the starter; code changes carried "
             "by each in brackets.", "", "| node | parent | operator | by | round | status | harness dev | "
             "reported dev | code |", "|---|---|---|---|---|---|---|---|---|"]
    for node in nodes.values():
        s = scored.get(node["id"], {})
        lines.append(f"| {node['id']} | {node['parent_node']} | {node['operator']} | {node.get('agent')} | "
                     f"{node.get('round')} | {s.get('status', '-')} | {_f(s.get('harness_dev'))} | "
                     f"{_f(s.get('reported_dev'))} | {', '.join(node.get('operators') or []) or '-'} |")
    return lines


def _final_diff(run_dir: Path, rows: list[dict], result: dict) -> list[str]:
    """The final solution (the program of the final model's best member) against the starter."""
    node = final_node(rows, result)
    if node is None:
        return []
    from tasks.solutions import load_solution

    try:
        diff = load_solution(run_dir / "tree" / node).diff(load_solution(run_dir / "tree" / "starter"))
    except Exception:  # noqa: BLE001 - a tree folder removed by hand: the report still stands
        return []
    return ["", f"## The final solution against the starter (node {node})", "",
            "```diff", diff.rstrip() or "(the starter's program: only its constants differ, none here)", "```"]


def final_node(rows: list[dict], result: dict) -> str | None:
    members = result.get("final_members") or []
    if not members:
        return None
    by_job = {r["job_id"]: r["id"] for r in rows if r.get("event") == "node_scored"}
    return by_job.get(members[0])


def _kept(rows: list[dict]) -> list[str]:
    lines = ["", "## What was kept and why", ""]
    for r in rows:
        if r.get("event") == "verdict":
            about = r.get("job_id") or f"the {r.get('subject', '')}"
            lines.append(f"- {about} (round {r.get('round')}, {r.get('agent', 'critic')}): **{r['decision']}** — "
                         f"{'; '.join(r.get('reasons', []))}")
        elif r.get("event") == "merge":
            who = r.get("signed_by") and f", signed off by {r['signed_by']}" or (
                r.get("rejected_by") and f", rejected by {r['rejected_by']}") or ""
            lines.append(f"- round {r.get('round')}: {r.get('agent', 'editor')} {r.get('policy')} of "
                         f"{', '.join(r.get('members', []))} → dev {_f(r.get('dev_accuracy'))}"
                         f"{'' if r.get('changed') else ' (unchanged)'}{who}")
    return lines


def edge_counts(rows: list[dict]) -> dict[str, tuple[set[str], int]]:
    """edge -> (payload kinds, messages): each message once, also when a resumed session replayed it."""
    seen: dict[str, tuple[str, str]] = {}
    for r in rows:
        if r.get("event") == "message":
            seen[r["id"]] = (r["edge"], r["kind"])
    out: dict[str, tuple[set[str], int]] = {}
    for edge, kind in seen.values():
        kinds, n = out.get(edge, (set(), 0))
        out[edge] = (kinds | {kind}, n + 1)
    return out


def agent_table(rows: list[dict], spend: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Per replica: decisions made (each may take several model calls), jobs run, tokens and job-seconds."""
    table: dict[str, dict[str, float]] = {}

    def row(agent: str) -> dict[str, float]:
        return table.setdefault(agent, {"calls": 0, "jobs": 0, "tokens": 0.0, "job_seconds": 0.0})

    for r in rows:
        if r.get("event") == "model_call" and r.get("source") != "memo":
            row(r["agent"])["calls"] += 1
        elif r.get("event") == "job_finished" and r.get("kind") != "dev_eval" and r.get("agent"):
            row(r["agent"])["jobs"] += 1
    for agent, used in spend.items():
        if agent:
            row(agent).update(tokens=used.get("tokens", 0.0), job_seconds=used.get("job_seconds", 0.0))
    return table


def _f(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, int | float) else ("-" if x is None else str(x))


def _budget(result: dict) -> str:
    used, limits = result.get("budget_used", {}), result.get("budget_limits", {})
    return ", ".join(f"{k} {used.get(k, 0):.4g}" + (f" of {limits[k]:.4g}" if limits.get(k) else "")
                     for k in ("wall", "job_seconds", "tokens", "usd", "model_calls"))


def _plots(run_dir: Path, rows: list[dict], result: dict, manifest: dict,
           areas: dict[str, tuple[int, int, int]]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    t0 = rows[0]["ts"] if rows else 0.0
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    merges = [(r["ts"] - t0, r["dev_accuracy"]) for r in rows if r.get("event") == "merge" and r.get("dev_accuracy") is not None]
    jobs = [(r["ts"] - t0, r["dev_accuracy"]) for r in _jobs(rows) if r.get("dev_accuracy") is not None]
    if jobs:
        a.scatter(*zip(*jobs, strict=True), s=14, alpha=0.6, label="job dev accuracy")
    if merges:
        a.step(*zip(*merges, strict=True), where="post", color="C3", label="final model (dev)")
    a.set(xlabel="seconds since start", ylabel="dev accuracy", title="score over time")
    if jobs or merges:
        a.legend(loc="lower right", fontsize=8)
    for job in _jobs(rows):
        curve = job.get("outcome", {}).get("dev_curve", [])
        if curve:
            b.plot([p[0] for p in curve], [p[1] for p in curve], alpha=0.7, lw=1)
    b.set(xlabel="step", ylabel="dev accuracy", title="each job's dev curve")
    fig.tight_layout()
    out["score"] = _save(fig, run_dir / "plot_score.png")
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    spend = result.get("spend_by_role", {})
    roles = sorted(spend)
    ax.barh([r or "harness" for r in roles], [spend[r].get("job_seconds", 0) for r in roles], color="C2")
    ax.set(xlabel="job-seconds", title="spend per role")
    fig.tight_layout()
    out["spend"] = _save(fig, run_dir / "plot_spend.png")
    graph = _graph(run_dir, manifest, rows, areas)
    if graph:
        out["graph"] = graph
    return out


def _graph(run_dir: Path, manifest: dict, rows: list[dict], areas: dict) -> str | None:
    try:
        from team.config.topology import load_team
        from team.views.graph import draw_png

        counts = {edge: n for edge, (_, n) in edge_counts(rows).items()}
        return str(draw_png(load_team(manifest["team"]["path"]), run_dir / "plot_graph.png", counts, areas))
    except Exception:  # noqa: BLE001 - the team file may have moved; the report still stands
        return None


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path)
    plt.close(fig)
    return str(path)


def _inline(text: str) -> str:
    """Escaped text with its markdown links as links."""
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', html.escape(text).replace("**", ""))


def _figure(name: str, path: str, graph_links: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    if name == "graph" and graph_links:
        return (f'<figure class="graph"><img alt="{name}" usemap="#roles" src="data:image/png;base64,{data}">'
                f"{graph_links}<figcaption>{name}</figcaption></figure>")
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}</figcaption></figure>'


def _html(md: str, run_dir: Path, plots: dict[str, str], graph_links: str = "") -> str:
    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            tag = "th" if not in_table else "td"
            body.append(("<table>" if not in_table else "") + "<tr>" +
                        "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
            in_table = True
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("!["):
            continue
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<li>{_inline(line[2:])}</li>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    body += [_figure(name, path, graph_links) for name, path in plots.items()]
    if graph_links and "graph" not in plots:
        body.append(graph_links)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "img{max-width:100%}figure.graph{display:flex;gap:1em;align-items:flex-start}"
             "figure.graph img{max-width:none}.agents ul{margin:.3em 0}")
    return f"<!doctype html><meta charset=utf-8><title>{html.escape(run_dir.name)}</title><style>{style}</style>" + "\n".join(body)
