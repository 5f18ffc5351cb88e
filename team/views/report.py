"""The report of a run, from its files alone: report.md and report.html with their plots. It opens with the
outcome and the role graph at work (messages per edge, each agent's conversations), then the tree of
attempts, the jobs per slot, each experiment's config and seed with links to its logs, the final program's
diff against the starter, what was kept and why, who decided and what each role spent. It can be rebuilt
from any run directory.
"""

from __future__ import annotations

import html
from pathlib import Path

from team.views import attempts
from team.views.attempts import node_anchor, score
from team.views.blocks import (
    Block,
    Bullets,
    Figure,
    Heading,
    Link,
    Para,
    Raw,
    Table,
    Text,
    html_body,
    markdown,
    text,
)
from team.views.plots import score_plot, spend_plot
from team.views.run_facts import RunFacts, read_run
from team.views.transcripts import write_transcripts
from team.views.units import TOKENS_SCRIPTED, budget_line, count, duration, scripted_only

__all__ = ["write_report", "edge_counts", "agent_table"]


def write_report(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    facts = read_run(run_dir)
    pages = {agent: p.relative_to(run_dir).as_posix() for agent, p in write_transcripts(run_dir).items()}
    blocks = _header(facts) + _team(facts, pages) + _score(facts) + attempts.tree_section(facts)
    blocks += attempts.timeline_section(facts, run_dir) + attempts.experiments_section(facts)
    blocks += attempts.diff_section(facts)
    blocks += _kept(facts) + _who_decided(facts) + _spend(facts)
    (run_dir / "report.md").write_text(markdown(blocks), encoding="utf-8")
    (run_dir / "report.html").write_text(_page(run_dir.name, blocks), encoding="utf-8")
    return run_dir / "report.md"


# -- the outcome ---------------------------------------------------------------------------------------
def _header(facts: RunFacts) -> list[Block]:
    result, manifest = facts.result, facts.manifest
    faults = result.get("faults", {})
    items = [text(f"backend: {', '.join(result.get('backend', []))} (seed {result.get('seed')}, prior "
                  f"{result.get('prior', manifest.get('options', {}).get('prior', 'reference'))})"),
             text(f"baseline test score: {score(result.get('baseline_score'))}; final test score: "
                  f"{score(result.get('test_score'))} (n={result.get('n')}, scored by the verifier on the sealed split)"),
             _final_line(facts), *_inspect_logs(facts),
             text(f"flags: {', '.join(f['flag'] + ': ' + f['reason'] for f in result.get('flags', [])) or 'none'}"),
             text(result.get("control") or "decisions: -"),
             text(f"stopped: {result.get('stop_reason', '')}"),
             text(f"budget used: {_budget(result)}"),
             text(f"device busy share: {score(result.get('device_busy_share'))}; model errors "
                  f"{faults.get('model_errors', 0)}, scripted fallbacks {faults.get('fallbacks', 0)}")]
    contents = [Link(title, f"#{anchor}") for anchor, title in _CONTENTS if _has(facts, anchor)]
    line: list = ["Sections: "]
    for link in contents:
        line += [" · " if len(line) > 1 else "", link]
    return [Heading(1, f"Run {manifest.get('run_id', facts.run_dir.name)}: team {result.get('team')} on task "
                       f"{result.get('task')}"), Bullets(tuple(items)), Para(tuple(line), "contents")]


_CONTENTS = (("team", "the team at work"), ("tree", "tree of attempts"), ("timeline", "jobs per slot"),
             ("experiments", "experiments"), ("diff", "final diff"), ("kept", "what was kept"),
             ("decided", "who decided"), ("spend", "spend"))


def _has(facts: RunFacts, anchor: str) -> bool:
    return {"tree": bool(facts.nodes), "timeline": bool(facts.jobs), "experiments": bool(facts.training),
            "diff": facts.final_node is not None and (facts.run_dir / "tree" / facts.final_node).is_dir()
            and (facts.run_dir / "tree" / "starter").is_dir()}.get(anchor, True)


def _inspect_logs(facts: RunFacts) -> list[Text]:
    """Where the verifier's Inspect logs are, for `inspect view` (tasks scored through Inspect AI only)."""
    logs = sorted((facts.run_dir / "verify").rglob("*.eval"))
    if not logs:
        return []
    links: list = []
    for path in logs:
        links += [", " if links else "", Link(path.relative_to(facts.run_dir).as_posix(),
                                              path.relative_to(facts.run_dir).as_posix())]
    return [("Inspect logs of the verifier: ", *links, f" (open them with `inspect view --log-dir "
             f"{facts.run_dir / 'verify'}`; each job's are beside its logs)")]


def _final_line(facts: RunFacts) -> Text:
    result = facts.result
    members = ", ".join(result.get("final_members", [])) or "none"
    line: list = [f"final model: {members} (dev {score(result.get('dev_score'))})"]
    if facts.final_node and facts.final_node in facts.nodes:
        code = ", ".join(result.get("final_operators") or facts.nodes[facts.final_node].operators) or "none"
        line += ["; its program: node ", Link(facts.final_node, f"#{node_anchor(facts.final_node)}"),
                 f" (code changes: {code})"]
    return tuple(line)


def _budget(result: dict) -> str:
    used, limits = result.get("budget_used", {}), result.get("budget_limits", {})
    line = budget_line(used, limits, clock=result.get("clock", "wall"))
    if scripted_only(result.get("backend")) and "tokens" in used:
        line += f"; the tokens are {TOKENS_SCRIPTED}"
    return line


# -- the team at work ----------------------------------------------------------------------------------
def _team(facts: RunFacts, pages: dict[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "The team at work", "team")]
    areas: dict[str, tuple[int, int, int]] = {}
    boxes: dict[str, tuple[int, int, int, int]] = {}
    graph = _graph(facts, areas, boxes)
    counted = sorted({**{edge: (set(), 0) for edge in boxes}, **edge_counts(facts.rows)}.items())  # 0: none crossed
    if graph is not None:
        blocks.append(Figure("graph", graph, "the role graph: each edge labelled with the messages that crossed it; "
                             "click an agent to read its conversations, an edge's label for its row below",
                             _graph_links(pages, areas, _edge_spots(boxes, dict(counted))), "roles"))
    elif pages:
        blocks.append(Raw(_graph_links(pages, {})))
    edges = tuple((text(edge), text(", ".join(sorted(kinds)) or "-"), text(count(n))) for edge, (kinds, n) in counted)
    blocks.append(Table(("edge", "payloads", "messages"), edges, ids=tuple(f"edge-{e}" for e, _ in counted)))
    tokens = "prompt tokens (not sent)" if scripted_only(facts.result.get("backend")) else "tokens"
    agents = []
    for agent, row in sorted(agent_table(facts.rows, facts.result.get("spend_by_agent", {})).items()):
        page = pages.get(agent.split("[", 1)[0])
        name = text(Link(agent, f"{page}#{agent}")) if page else text(agent)
        agents.append((name, text(count(row["calls"])), text(count(row["jobs"])), text(count(row["tokens"])),
                       text(duration(row["job_seconds"]))))
    return blocks + [Table(("agent (conversations)", "decisions", "jobs", tokens, "job-seconds"), tuple(agents))]


def _graph(facts: RunFacts, areas: dict, boxes: dict) -> Path | None:
    try:
        from team.config.topology import load_team
        from team.views.graph import draw_png

        counts = {edge: n for edge, (_, n) in edge_counts(facts.rows).items()}
        team = load_team(_team_file(facts))
        return draw_png(team, facts.run_dir / "plot_graph.png", counts, areas, boxes)
    except Exception:  # noqa: BLE001 - the team file may have moved; the report still stands
        return None


def _team_file(facts: RunFacts) -> str:
    """The run's own copy of its team file when it keeps one, else the path the manifest names."""
    team = facts.manifest.get("team", {})
    for name in (team.get("copy"), "team.yaml"):
        if name and (facts.run_dir / name).is_file():
            return str(facts.run_dir / name)
    return team["path"]


def _graph_links(pages: dict[str, str], areas: dict[str, tuple[int, int, int]], edge_spots: str = "") -> str:
    """An image map over the role graph's agents (and edge labels) and a list beside it, each agent opening
    its conversations."""
    spots = edge_spots + "".join(f'<area shape="circle" coords="{x},{y},{r}" href="{html.escape(pages[a])}" alt="{html.escape(a)}">'
                    for a, (x, y, r) in areas.items() if a in pages)
    items = "".join(f'<li><a href="{html.escape(p)}">{html.escape(a)}</a></li>' for a, p in sorted(pages.items()))
    box = f'<div class="agents"><b>Conversations</b> (click an agent)<ul>{items}</ul></div>' if pages else ""
    return f'<map name="roles">{spots}</map>{box}' if spots or box else ""


def _edge_spots(boxes: dict[str, tuple[int, int, int, int]], counted: dict[str, tuple[set[str], int]]) -> str:
    """Each edge label of the picture, linked to its row in the table of edges."""
    spots = []
    for edge, box in boxes.items():
        if edge in counted:
            kinds, n = counted[edge]
            title = html.escape(f"{edge}: {count(n)} message{'s' * (n != 1)}" + (f" ({', '.join(sorted(kinds))})"
                                                                                 if kinds else ""))
            spots.append(f'<area shape="rect" coords="{",".join(map(str, box))}" href="#edge-{html.escape(edge)}" '
                         f'alt="{title}" title="{title}">')
    return "".join(spots)


def _score(facts: RunFacts) -> list[Block]:
    path = score_plot(facts, facts.run_dir / "plot_score.png")
    return [Figure("score", path, "left: each training job's harness dev score when it ended, the final model's "
                   "dev score after each merge, and its test score; right: each job's own dev curve")]


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


# -- decisions and spend -------------------------------------------------------------------------------
def _kept(facts: RunFacts) -> list[Block]:
    items: list[Text] = []
    for r in facts.rows:
        if r.get("event") == "verdict":
            about = r.get("job_id") or f"the {r.get('subject', '')}"
            items.append(text(f"{about} (round {r.get('round')}, {r.get('agent', 'critic')}): {r['decision']} — "
                              f"{'; '.join(r.get('reasons', []))}"))
        elif r.get("event") == "merge":
            who = r.get("signed_by") and f", signed off by {r['signed_by']}" or (
                r.get("rejected_by") and f", rejected by {r['rejected_by']}") or ""
            items.append(text(f"round {r.get('round')}: {r.get('agent', 'editor')} {r.get('policy')} of "
                              f"{', '.join(r.get('members', []))} → dev {score(r.get('dev_accuracy'))}"
                              f"{'' if r.get('changed') else ' (unchanged)'}{who}"))
    return [Heading(2, "What was kept and why", "kept"), Bullets(tuple(items)) if items else Para(text("Nothing."))]


def _who_decided(facts: RunFacts) -> list[Block]:
    """Per role: decisions the model made (at once, after repair turns), scripted fallbacks and why."""
    rows = []
    for role, d in sorted(facts.result.get("decisions", {}).items()):
        why = "; ".join(f"{n}× {w}" for w, n in d.get("why", {}).items()) or "-"
        rows.append(tuple(text(str(x)) for x in (role, d.get("model", 0), d.get("repaired", 0), d.get("fallback", 0),
                                                d.get("scripted", 0), d.get("repair_turns", 0), why)))
    return [Heading(2, "Who decided", "decided"), Para(text(facts.result.get("control") or "-")),
            Table(("role", "model", "repaired", "fallback", "scripted", "repair turns", "why it fell back"), tuple(rows))]


def _spend(facts: RunFacts) -> list[Block]:
    scripted = scripted_only(facts.result.get("backend"))
    rows = []
    for role, s in sorted(facts.result.get("spend_by_role", {}).items()):
        rows.append((text(role or "harness"), text(duration(s.get("job_seconds", 0))), text(count(s.get("tokens", 0))),
                     text(f"${s.get('usd', 0):.4f}"), text(count(s.get("model_calls", 0)))))
    blocks: list[Block] = [Heading(2, "Spend per role", "spend")]
    if scripted:
        blocks.append(Para(text(f"Tokens here are {TOKENS_SCRIPTED}.")))
    blocks.append(Table(("role", "job-seconds", "prompt tokens (not sent)" if scripted else "tokens", "usd",
                         "decisions (model calls)"), tuple(rows)))
    return blocks + [Figure("spend", spend_plot(facts, facts.run_dir / "plot_spend.png"),
                            "job-seconds per role: the harness's are its dev evaluations")]


# -- the page ------------------------------------------------------------------------------------------
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.35}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:.6em 0;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:break-word}th{background:#f3f3f3}
tr:target{background:#fff6c8}li:target>span.node{background:#fff6c8}
img{max-width:100%}figure{margin:1em 0}figcaption{font-size:13px;color:#555}
figure.graph .pic{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure.graph img{max-width:none}.agents ul{margin:.3em 0}
p.contents{font-size:14px}
pre.diff{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#fafafa;border:1px solid #ddd;
 padding:.5em 0;overflow-x:auto;max-width:100%}
pre.diff span{display:block;padding:0 .6em;white-space:pre}
pre.diff .add{background:#e6ffec;color:#116329}pre.diff .del{background:#ffebe9;color:#82071e}
pre.diff .hunk{background:#ddf4ff;color:#0550ae}pre.diff .file{font-weight:bold}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:1.2em}ul.tree{padding-left:0;font-size:13px}
ul.tree ul{border-left:1px solid #bbb}ul.tree li{margin:.15em 0;position:relative}
ul.tree ul>li::before{content:"";position:absolute;left:-1.2em;top:.7em;width:1em;border-top:1px solid #bbb}
span.node{display:inline-block;padding:1px 5px;border-radius:3px;border:1px solid #ccc;background:#fff}
span.node.accept{border-color:#2da44e;background:#eefbf1}span.node.reject{color:#555}
span.node.failed{border-color:#cf222e;border-style:dashed}span.node.flagged{background:#fff0f0;border-color:#cf222e}
span.node.final{border:2px solid #bf8700;background:#fff8c5;font-weight:600}span.node.root{font-weight:600}
details summary{cursor:pointer;font-size:14px;margin:.4em 0}
"""


def _page(title: str, blocks: list[Block]) -> str:
    return (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style><body>\n{html_body(blocks)}\n</body></html>")
