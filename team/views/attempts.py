"""The report's account of the work: the tree of attempts (each node's operator, scores, verdicts and
flags), the jobs per slot over time, each training job's config and seed, and the final program's diff
against the starter. Each section is a list of report blocks (team.views.blocks)."""

from __future__ import annotations

from pathlib import Path

from team.views.blocks import Block, Diff, Figure, Heading, Link, Para, Table, Text, Tree, text
from team.views.plots import slot_order, timeline_plot
from team.views.run_facts import Job, Node, RunFacts
from team.views.units import duration

__all__ = ["tree_section", "timeline_section", "experiments_section", "diff_section", "logs", "score",
           "node_anchor", "config_text"]


def score(x) -> str:
    return f"{x:.3f}" if isinstance(x, int | float) else "-"


def node_anchor(node_id: str) -> str:
    return f"node-{node_id}"


def logs(job: Job | None) -> list:
    """Links to what the job left for a reader: its stdout, stderr and result, relative to the run folder."""
    if job is None:
        return []
    names = {"stdout.log": "stdout", "stderr.log": "stderr", "result.json": "result"}  # an Inspect log: "eval"
    out: list = []
    for path in job.logs:
        name = "eval log" if path.endswith(".eval") else names.get(Path(path).name, Path(path).name)
        out += [" " if out else "", Link(name, path)]
    return out


def config_text(config: dict, starter: dict) -> str:
    """A config as its changes from the starter's constants (the seed is shown on its own)."""
    changed = {k: v for k, v in config.items() if k != "seed" and (not starter or starter.get(k) != v)}
    if not changed:
        return "the starter's constants"
    return ", ".join(f"{k} {_value(v)}" for k, v in sorted(changed.items()))


def _value(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# -- the tree of attempts ------------------------------------------------------------------------------
def tree_section(facts: RunFacts) -> list[Block]:
    if not facts.nodes:
        return []
    children: dict[str, list[Node]] = {}
    for node in facts.nodes.values():
        children.setdefault(node.parent or "starter", []).append(node)
    roots = [p for p in children if p not in facts.nodes]
    blocks: list[Block] = [Heading(2, "Tree of attempts", "tree"), Para(text(
        f"{len(facts.nodes)} programs grown from the starter. Each node: its operator and who ran it, the "
        "harness's dev score (and what the job printed), the critics' verdicts, the code changes it carries. "
        "★ marks the final model's program (with its test score), ⚑ a flagged node."))]
    return blocks + [Tree(text(f"{root} (the task's starter program)" if root == "starter" else root), "root",
                          tuple(_subtree(n, children, facts) for n in children[root])) for root in roots]


def _subtree(node: Node, children: dict[str, list[Node]], facts: RunFacts) -> Tree:
    return Tree(_node_label(node, facts), _node_css(node, facts),
                tuple(_subtree(c, children, facts) for c in children.get(node.id, [])), node_anchor(node.id))


def _node_label(node: Node, facts: RunFacts) -> Text:
    job = facts.job(node.job_id)
    parts: list = [f"{node.id} · {node.operator} by {node.agent or '-'}, round {node.round} · "]
    if node.status not in ("ok", "-"):
        parts.append(f"{node.status} · ")
    parts.append(f"dev {score(node.harness_dev)}" if job is not None or node.harness_dev is not None else "not run")
    if node.reported_dev is not None and score(node.reported_dev) != score(node.harness_dev):
        parts.append(f" (the job printed {score(node.reported_dev)})")
    if node.verdicts:
        parts.append(" · " + ", ".join(f"{d} ({who})" for d, who in node.verdicts))
    if node.operators:
        parts.append(" · code: " + ", ".join(node.operators))
    if node.flags:
        parts.append(" · ⚑ " + ", ".join(node.flags))
    if node.id == facts.final_node:
        parts.append(f" · ★ final model, test {score(facts.result.get('test_score'))}")
    if job is not None:
        parts += [f" · job {job.job_id} "] + logs(job)
    return tuple(parts)


def _node_css(node: Node, facts: RunFacts) -> str:
    decisions = {d for d, _ in node.verdicts}
    css = ["accept" if "accept" in decisions else "reject" if decisions else "unreviewed"]
    if node.status not in ("ok", "-"):
        css.append("failed")
    if node.flags:
        css.append("flagged")
    if node.id == facts.final_node:
        css.append("final")
    return " ".join(css)


# -- jobs per slot ---------------------------------------------------------------------------------------
def _what(job: Job, facts: RunFacts) -> Text:
    if job.kind == "dev_eval":
        return text("harness dev evaluation of job ", Link(job.of or "-", f"#job-{job.of}") if facts.job(job.of)
                    else (job.of or "-"))
    if job.kind == "merge_eval":
        return text("editor's merge evaluation")
    return text("training")


def timeline_section(facts: RunFacts, run_dir: Path) -> list[Block]:
    picture = timeline_plot(facts, run_dir / "plot_timeline.png")
    if picture is None:
        return []
    slots = slot_order(facts.jobs)
    blocks: list[Block] = [Heading(2, "Jobs per slot", "timeline"), Figure(
        "timeline", picture, f"{len(facts.jobs)} jobs on {len(slots)} slot{'s' * (len(slots) != 1)}: training in "
        "the colour of the replica that ran it, the harness's dev evaluation of each job hatched in that colour.")]
    rows = []
    for slot in slots:
        for job in (j for j in facts.jobs if j.slot == slot):
            rows.append((text(slot), text(f"{job.start:.1f}s"), text(duration(job.seconds)), _what(job, facts),
                         text(job.agent), _node_link(job.node, facts), text(job.status), text(score(job.dev)),
                         tuple(logs(job)) or text("-")))
    return blocks + [Table(("slot", "start", "ran", "what", "agent", "node", "status", "dev", "logs"), tuple(rows),
                           "jobs", fold=f"every job, by slot ({len(rows)})")]


def _node_link(node_id: str | None, facts: RunFacts) -> Text:
    return text(Link(node_id, f"#{node_anchor(node_id)}")) if node_id and node_id in facts.nodes else text(node_id or "-")


# -- experiments ---------------------------------------------------------------------------------------
def experiments_section(facts: RunFacts) -> list[Block]:
    jobs = facts.training
    if not jobs:
        return []
    by_job = {n.job_id: n for n in facts.nodes.values() if n.job_id}
    rows = []
    for job in jobs:
        node = by_job.get(job.job_id)
        verdicts = ", ".join(f"{d} ({who})" for d, who in node.verdicts) if node and node.verdicts else "-"
        dev = score(job.dev) if job.status == "ok" else f"{job.status}, {score(job.dev)}"
        rows.append((text(str(job.round)), text(job.job_id), text(job.agent), _node_link(job.node, facts), text(dev),
                     text(verdicts), text(config_text(job.config, facts.starter_config)),
                     text(str(job.config.get("seed", "-"))), tuple(logs(job)) or text("-")))
    starter = ", ".join(f"{k} {_value(v)}" for k, v in sorted(facts.starter_config.items()) if k != "seed")
    intro = (f"Each config is shown as its changes from the starter's constants ({starter})."
             if starter else "Each config in full.")
    return [Heading(2, "Experiments", "experiments"), Para(text(intro)),
            Table(("round", "job", "agent", "node", "harness dev", "verdict", "config", "seed", "logs"), tuple(rows), "experiments", ids=tuple(f"job-{j.job_id}" for j in jobs))]


# -- the final program ---------------------------------------------------------------------------------
def diff_section(facts: RunFacts) -> list[Block]:
    """The final solution (the program of the final model's best member) against the starter."""
    node = facts.final_node
    if node is None:
        return []
    from tasks.solutions import load_solution

    try:
        diff = load_solution(facts.run_dir / "tree" / node).diff(load_solution(facts.run_dir / "tree" / "starter"))
    except Exception:  # noqa: BLE001 - a tree folder removed by hand: the report still stands
        return []
    head = Heading(2, f"The final solution against the starter (node {node})", "diff")
    if not diff.strip():
        return [head, Para(text("The starter's program, unchanged."))]
    return [head, Para(text("Lines the final program removed are red, lines it added green.")), Diff(diff)]
