"""What a researcher reads about a run: report.md/html (the diff, the tree of attempts, the jobs per slot,
each config with its seed, the role graph near the top, links to logs and conversations) and the live
progress lines, on a run of the research team with toy jobs (tests/views_rig.py)."""

import io
import json
import re
from contextlib import redirect_stderr
from html.parser import HTMLParser

import pytest

from team.engine.records.events import read_events
from team.engine.records.ledger import Ledger
from team.views.progress import Progress, _budget_line
from team.views.units import budget_line, count, duration
from tests.views_rig import report_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out, result = report_run(tmp_path_factory.mktemp("views"))
    rows = read_events(out / "events.jsonl")
    return out, result, rows, (out / "report.md").read_text(), (out / "report.html").read_text()


def _training(rows):
    return [r for r in rows if r["event"] == "job_started" and r.get("kind") != "dev_eval" and r.get("node")]


def test_the_final_diff_is_a_coloured_monospace_block(run):
    out, result, rows, md, page = run
    assert result["final_node"], "the toy rewards code: the final model has a program with changes"
    assert "```diff\n--- a/train.py" in md
    assert "```" not in page  # the page shows the diff, not Markdown's fence
    block = re.search(r'<pre class="diff">(.*?)</pre>', page, re.S).group(1)
    assert '<span class="del">-' in block and '<span class="add">+' in block and '<span class="hunk">@@' in block
    assert "<p>" not in block  # one block, not a paragraph per line


class _Tree(HTMLParser):
    """Depth of each node of the tree of attempts in the page, by its id."""

    def __init__(self):
        super().__init__()
        self.depth, self.inside, self.nodes = 0, 0, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "ul" and (self.inside or attrs.get("class") == "tree"):
            self.inside += 1
        if tag == "li" and self.inside and (attrs.get("id") or "").startswith("node-"):
            self.nodes[attrs["id"][5:]] = self.inside

    def handle_endtag(self, tag):
        if tag == "ul" and self.inside:
            self.inside -= 1


def test_the_tree_of_attempts_is_drawn_as_a_tree(run):
    out, result, rows, md, page = run
    made = {r["id"]: r for r in rows if r["event"] == "node"}
    tree = _Tree()
    tree.feed(page)
    assert set(tree.nodes) == set(made)
    for node_id, row in made.items():  # a child sits one level below its parent
        parent = row["parent_node"]
        assert tree.nodes[node_id] == (tree.nodes[parent] + 1 if parent in made else 2), node_id
    assert max(tree.nodes.values()) >= 3, "the toy team grows code on code: the tree is more than a list"
    final = re.search(rf'<li id="node-{result["final_node"]}"><span class="node ([^"]*)">(.*?)</span>', page).groups()
    assert "final" in final[0].split() and f"test {result['test_score']:.3f}" in final[1]
    for row in made.values():  # each node's line names its operator and the replica that ran it, in md too
        assert re.search(rf"- {row['id']} · {row['operator']} by {re.escape(row['agent'])}, round", md)


def test_every_config_shows_its_seed_and_no_cell_carries_markdown(run):
    out, result, rows, md, page = run
    experiments = md.split("## Experiments")[1].split("\n## ")[0]
    for start in _training(rows):
        line = next(x for x in experiments.splitlines() if x.startswith(f"| {start['round']} | {start['job_id']} |"))
        assert f"| {start['config']['seed']} |" in line, line
        assert f"[stdout](jobs/{start['job_id']}/stdout.log)" in line
    experiments = [(s["node"], json.dumps(s["config"], sort_keys=True)) for s in _training(rows)]
    assert len(set(experiments)) == len(experiments)  # seeds follow configs: one program, config and seed ran once
    assert not [x for x in md.splitlines() if x.startswith("|") and "`" in x]
    assert "`" not in re.sub(r"<pre.*?</pre>", "", page, flags=re.S)


def test_the_timeline_shows_each_job_on_its_slot_and_dev_evaluations_apart(run):
    out, result, rows, md, page = run
    assert (out / "plot_timeline.png").stat().st_size > 0
    table = md.split("## Jobs per slot")[1].split("\n## ")[0]
    started = [r for r in rows if r["event"] == "job_started"]
    for r in started:
        line = next(x for x in table.splitlines() if f"jobs/{r['job_id']}/stdout.log" in x)
        assert line.startswith("| cpu:0")  # ScriptedExecutor runs every job on cpu:0, several at once
        if str(r.get("key", "")).endswith(":dev"):
            assert f"harness dev evaluation of job [{r['of']}]" in line and "| training |" not in line
        elif r.get("node"):
            assert f"| training | {r['agent']} |" in line


def test_the_role_graph_comes_first_with_every_edge_label_in_the_picture(run):
    out, result, rows, md, page = run
    assert page.index('<figure class="graph"') < page.index('id="tree"') < page.index('id="experiments"')
    width, height = 750, 520  # graph.draw_png's picture, in pixels
    boxes = [tuple(map(int, c.split(","))) for c in re.findall(r'shape="rect" coords="([\d,]+)"', page)]
    edges = ("director->engineer", "engineer->critic", "critic->engineer", "critic->editor", "editor->director")
    assert len(boxes) == len(edges)  # research.yaml's edges, each labelled, also one no message crossed
    for edge in edges:
        sent = sum(r["event"] == "message" and r["edge"] == edge for r in rows)
        assert re.search(rf"^\| {edge} \| [^|]+ \| {sent} \|$", md, re.M), edge
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        for a0, b0, a1, b1 in boxes[i + 1:]:  # no label hides another (the old picture read "essages")
            assert x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0


def test_a_scripted_run_names_its_tokens_and_budgets_read_in_units(run):
    out, result, rows, md, page = run
    assert result["backend"] == ["scripted"]
    assert "prompt tokens an LLM would have been sent (scripted run: no model was called)" in md
    assert "prompt tokens (not sent)" in md
    prose = re.sub(r"```.*?```", "", md, flags=re.S)  # the diff's code may hold 1e-3
    assert not re.search(r"\d(\.\d+)?e[+-]\d\d", prose), "a number in scientific notation, as 2e+06 or 1.242e+04"
    limits = result["budget_limits"]
    assert f"of {duration(limits['wall'])}" in md and f"of {count(limits['tokens'])}" in md


def test_progress_lines_tell_the_harness_evaluation_from_an_agents_job(run):
    out, result, rows, md, page = run
    progress = Progress()
    progress.ledger = Ledger(limits={"wall": 600.0})
    err = io.StringIO()
    with redirect_stderr(err):
        for row in rows:
            progress.row(row)
    lines = err.getvalue().splitlines()
    for r in rows:
        if r["event"] == "job_started" and r["key"].endswith(":dev"):
            said = [x for x in lines if r["job_id"] in x]
            assert len(said) == 1 and f"harness: dev evaluation of job {r['of']}" in said[0], said
            assert "started job" not in said[0] and "(round" not in said[0]
    trained = _training(rows)[0]
    assert any(f"{trained['agent']} started training job {trained['job_id']} on node {trained['node']}" in x
               for x in lines)


def test_budgets_read_as_durations_and_counts():
    assert [duration(s) for s in (0.05, 3.25, 45, 270, 600, 5400)] == ["0.05s", "3.2s", "45s", "4m 30s", "10m", "1h 30m"]
    assert count(2e6) == "2,000,000" and count(12.5) == "12.5"
    limits = {"wall": 600.0, "job_seconds": 360.0, "tokens": 2e6, "usd": 5.0}
    used = {"wall": 270.0, "job_seconds": 61.0, "tokens": 18256.0, "usd": 0.0}
    assert budget_line(used, limits) == ("wall 4m 30s of 10m, job_seconds 1m 1s of 6m, tokens 18,256 of 2,000,000, "
                                         "usd $0.00 of $5.00")
    assert _budget_line(used, limits, scripted=True).endswith("(tokens: prompt sizes an LLM would have been sent; none was)")


def test_a_teams_budget_reads_in_units():
    from team.config.topology import load_team
    from team.views.graph import graph_text

    text = graph_text(load_team("research"))
    assert "budget: wall 10m, job_seconds 6m, tokens 2,000,000, usd $5.00" in text
    assert "e+06" not in text and "wall=600" not in text
