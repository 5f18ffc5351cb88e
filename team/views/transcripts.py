"""Each agent's conversations, for reading: `transcripts/<replica>.md` next to the `.jsonl` the run kept,
and one HTML page per agent (`transcripts/<agent>.html`, its replicas' decisions in order: the prompt,
every reply before parsing, each repair turn with what was wrong and what was allowed, the parsed decision
or the scripted fallback). report.html links them from the role graph.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

__all__ = ["write_transcripts", "read_transcripts", "agent_of"]


def agent_of(replica: str) -> str:
    return replica.split("[", 1)[0]


def read_transcripts(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """replica -> its decisions, in the order they were made (a torn last line is skipped)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((Path(run_dir) / "transcripts").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            out.setdefault(row["agent"], []).append(row)
    return out


def write_transcripts(run_dir: Path) -> dict[str, Path]:
    """Write the .md per replica and the .html per agent; returns agent -> its HTML page."""
    folder = Path(run_dir) / "transcripts"
    by_agent: dict[str, dict[str, list[dict]]] = {}
    for replica, rows in read_transcripts(run_dir).items():
        (folder / f"{_stem(replica)}.md").write_text(_markdown(replica, rows), encoding="utf-8")
        by_agent.setdefault(agent_of(replica), {})[replica] = rows
    pages = {}
    for agent, replicas in by_agent.items():
        pages[agent] = folder / f"{agent}.html"
        pages[agent].write_text(_page(agent, replicas), encoding="utf-8")
    return pages


def _stem(replica: str) -> str:
    return replica.replace("[", "-").replace("]", "")


def _source(row: dict) -> str:
    """Who decided: a decision the scripted policy made reads 'scripted', not 'model' (no model was called)."""
    source = row.get("source", "")
    return "scripted" if source == "model" and row.get("model") == "scripted" else source


def _headline(row: dict) -> str:
    turns = row.get("turns", [])
    repairs = sum(1 for t in turns if t.get("repair"))
    extra = f", {repairs} repair turn{'s' * (repairs != 1)}" if repairs else ""
    fb = row.get("fallback")
    why = f" — scripted policy {fb['policy']!r}: {fb['reason']}" if fb else ""
    return f"{row['call']} (round {row['round']}, {row.get('handler') or 'decision'} → {row.get('schema')}): " \
           f"{_source(row)}{extra}{why}"


def _markdown(replica: str, rows: list[dict]) -> str:
    lines = [f"# {replica}: {len(rows)} decisions", ""]
    for row in rows:
        lines += [f"## {_headline(row)}", ""]
        for m in row.get("messages", []):
            lines += [f"**{m['role']}**", "", "```text", m["content"].rstrip(), "```", ""]
        for t in row.get("turns", []):
            lines += [f"**assistant** (attempt {t.get('attempt', 1)}, {t.get('kind')})", "", "```text",
                      (t.get("reply") or "(empty)").rstrip(), "```", ""]
            if t.get("repair"):
                lines += ["**user** (repair turn)", "", "```text", t["repair"].rstrip(), "```", ""]
        lines += [f"- error: {e}" for e in row.get("errors", [])]
        lines += ["**decision**" + (" (scripted fallback)" if row.get("fallback") else ""), "", "```json",
                  json.dumps(row.get("output"), indent=1, sort_keys=True), "```", ""]
    return "\n".join(lines) + "\n"


def _pre(text: str, cls: str = "") -> str:
    return f'<pre class="{cls}">{html.escape(text or "(empty)")}</pre>'


def _call_html(row: dict) -> str:
    parts = [f"<summary class='{_source(row)}'>{html.escape(_headline(row))}</summary>"]
    for m in row.get("messages", []):
        parts.append(f"<h4>{m['role']}</h4>" + _pre(m["content"]))
    for t in row.get("turns", []):
        problems = "".join(f"<li>{html.escape(p)}</li>" for p in t.get("problems", []))
        parts.append(f"<h4>assistant (attempt {t.get('attempt', 1)}, {html.escape(str(t.get('kind')))})</h4>"
                     + _pre(t.get("reply", ""), "reply") + (f"<ul class='problems'>{problems}</ul>" if problems else ""))
        if t.get("repair"):
            parts.append("<h4>user (repair turn)</h4>" + _pre(t["repair"], "repair"))
    parts += [f"<p class='error'>{html.escape(e)}</p>" for e in row.get("errors", [])]
    parts.append("<h4>decision</h4>" + _pre(json.dumps(row.get("output"), indent=1, sort_keys=True), "decision"))
    return f"<details id='{html.escape(row['call'])}'>" + "".join(parts) + "</details>"


def _page(agent: str, replicas: dict[str, list[dict]]) -> str:
    body = [f"<h1>Conversations of {html.escape(agent)}</h1>", "<p><a href='../report.html'>back to the report</a></p>"]
    for replica, rows in sorted(replicas.items()):
        counts: dict[str, int] = {}
        for r in rows:
            counts[_source(r)] = counts.get(_source(r), 0) + 1
        said = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        body.append(f"<h2 id='{html.escape(replica)}'>{html.escape(replica)}: {len(rows)} decisions ({said})</h2>")
        body += [_call_html(r) for r in rows]
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em;font-size:12px}pre.reply{background:#eef5ff}"
             "pre.repair{background:#fff3e0}summary{cursor:pointer;margin:.3em 0}summary.fallback{color:#b00}"
             "summary.repaired{color:#a60}ul.problems{color:#b00;font-size:13px}")
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(agent)}</title><style>{style}</style>"
            + "\n".join(body))
