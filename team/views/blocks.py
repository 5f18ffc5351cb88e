"""A report as a list of small blocks (headings, paragraphs, tables, trees, a diff, figures), written out
once as Markdown (report.md) and once as HTML (report.html), so the two never drift and no cell carries
Markdown syntax into the page."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Link", "Text", "Heading", "Para", "Bullets", "Table", "Diff", "Figure", "Tree", "Raw", "Block",
           "markdown", "html_body", "text"]


@dataclass(frozen=True)
class Link:
    label: str
    href: str


Span = str | Link
Text = tuple[Span, ...]  # a run of plain text and links


def text(*spans: Span) -> Text:
    return tuple(spans)


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    anchor: str = ""


@dataclass(frozen=True)
class Para:
    body: Text
    css: str = ""


@dataclass(frozen=True)
class Bullets:
    items: tuple[Text, ...]


@dataclass(frozen=True)
class Table:
    head: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]
    css: str = ""
    fold: str = ""  # when set, the HTML table sits in a <details> with this summary
    ids: tuple[str, ...] = ()  # an HTML id per row, for links into the table


@dataclass(frozen=True)
class Diff:
    body: str


@dataclass(frozen=True)
class Figure:
    name: str
    path: Path  # the PNG, next to report.md
    caption: str
    extra_html: str = ""  # an image map and a list beside the picture, for the role graph
    usemap: str = ""


@dataclass(frozen=True)
class Tree:
    label: Text
    css: str = ""
    children: tuple[Tree, ...] = field(default_factory=tuple)
    anchor: str = ""


@dataclass(frozen=True)
class Raw:
    """HTML only (a legend, a layout box); Markdown gets `md`."""
    html: str
    md: str = ""


Block = Heading | Para | Bullets | Table | Diff | Figure | Tree | Raw


# -- Markdown -------------------------------------------------------------------------------------------
def _md_text(body: Text) -> str:
    return "".join(f"[{_md_label(s.label)}]({s.href})" if isinstance(s, Link) else s for s in body)


def _md_label(label: str) -> str:
    return label.replace("[", "\\[").replace("]", "\\]")


def _md_cell(body: Text) -> str:
    return _md_text(body).replace("|", "\\|").replace("\n", " ")


def _md_tree(node: Tree, depth: int) -> list[str]:
    lines = [f"{'  ' * depth}- {_md_text(node.label)}"]
    for child in node.children:
        lines += _md_tree(child, depth + 1)
    return lines


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Heading):
        return [f"{'#' * block.level} {block.title}", ""]
    if isinstance(block, Para):
        return [_md_text(block.body), ""]
    if isinstance(block, Bullets):
        return [f"- {_md_text(item)}" for item in block.items] + [""]
    if isinstance(block, Table):
        rows = [f"| {' | '.join(block.head)} |", "|" + "---|" * len(block.head)]
        return rows + [f"| {' | '.join(_md_cell(c) for c in row)} |" for row in block.rows] + [""]
    if isinstance(block, Diff):
        return ["```diff", block.body.rstrip(), "```", ""]
    if isinstance(block, Figure):
        return [f"![{block.name}]({block.path.name})", "", f"*{block.caption}*", ""]
    if isinstance(block, Tree):
        return _md_tree(block, 0) + [""]
    return [block.md, ""] if block.md else []


def markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        lines += _md_block(block)
    return "\n".join(lines).rstrip() + "\n"


# -- HTML -----------------------------------------------------------------------------------------------
def _h(body: Text) -> str:
    return "".join(f'<a href="{html.escape(s.href)}">{html.escape(s.label)}</a>' if isinstance(s, Link)
                   else html.escape(s) for s in body)


def _diff_html(body: str) -> str:
    def css(line: str) -> str:
        if line.startswith(("+++", "---")):
            return "file"
        return {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")

    lines = body.rstrip("\n").splitlines() or ["(no difference)"]
    return '<pre class="diff">' + "".join(f'<span class="{css(x)}">{html.escape(x) or " "}</span>'
                                         for x in lines) + "</pre>"


def _tree_html(node: Tree) -> str:
    kids = "".join(_tree_html(c) for c in node.children)
    anchor = f' id="{html.escape(node.anchor)}"' if node.anchor else ""
    return (f'<li{anchor}><span class="node {node.css}">{_h(node.label)}</span>' + (f"<ul>{kids}</ul>" if kids else "")
            + "</li>")


def _table_html(block: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in block.head)
    ids = [f' id="{html.escape(i)}"' for i in block.ids] or [""] * len(block.rows)
    rows = "".join(f"<tr{i}>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>"
                   for i, row in zip(ids, block.rows, strict=True))
    table = f'<table class="{block.css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    return f"<details><summary>{html.escape(block.fold)}</summary>{table}</details>" if block.fold else table


def _figure_html(block: Figure) -> str:
    data = base64.b64encode(block.path.read_bytes()).decode()
    usemap = f' usemap="#{block.usemap}"' if block.usemap else ""
    img = f'<img alt="{html.escape(block.name)}"{usemap} src="data:image/png;base64,{data}">'
    return (f'<figure class="{html.escape(block.name)}"><div class="pic">{img}{block.extra_html}</div>'
            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{html.escape(block.title)}</h{block.level}>"
    if isinstance(block, Para):
        return f'<p class="{block.css}">{_h(block.body)}</p>' if block.css else f"<p>{_h(block.body)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_h(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table_html(block)
    if isinstance(block, Diff):
        return _diff_html(block.body)
    if isinstance(block, Figure):
        return _figure_html(block)
    if isinstance(block, Tree):
        return f'<ul class="tree">{_tree_html(block)}</ul>'
    return block.html


def html_body(blocks: list[Block]) -> str:
    return "\n".join(_html_block(b) for b in blocks)
