"""The report's pictures, each with a legend: score over time, each job's dev curve, the jobs per slot over
time (training coloured by the replica that asked for it, the harness's dev evaluations hatched), and the
spend per role. PNGs next to report.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from team.views.run_facts import Job, RunFacts

__all__ = ["score_plot", "timeline_plot", "spend_plot", "agent_colours", "slot_order"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def agent_colours(jobs: list[Job]) -> dict[str, str]:
    """One colour per replica that asked for training, in order of first appearance."""
    agents = list(dict.fromkeys(j.agent for j in jobs if j.kind == "training"))
    palette = [f"C{i}" for i in range(10)] if len(agents) <= 10 else [_pyplot().cm.tab20(i) for i in range(20)]
    return {a: palette[i % len(palette)] for i, a in enumerate(agents)}


def slot_order(jobs: list[Job]) -> list[str]:
    def key(slot: str) -> tuple:
        return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", slot))

    return sorted({j.slot for j in jobs}, key=key)


def score_plot(facts: RunFacts, path: Path) -> Path:
    """Left: every training job's harness dev score over time (accepted or not), the final model's dev score
    and its test score; right: each job's own dev curve, coloured by the replica that ran it."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    accepted = {n.job_id for n in facts.nodes.values() if any(d == "accept" for d, _ in n.verdicts)}
    done = [j for j in facts.training if j.dev is not None]
    for label, keep, colour in (("job, accepted", True, "C2"), ("job, not accepted", False, "0.55")):
        pts = [(j.start + j.seconds, j.dev) for j in done if (j.job_id in accepted) == keep]
        if pts:
            a.scatter(*zip(*pts, strict=True), s=18, color=colour, label=label, zorder=3)
    merges = [(r["ts"] - facts.rows[0]["ts"], r["dev_accuracy"]) for r in facts.rows
              if r.get("event") == "merge" and r.get("dev_accuracy") is not None]
    if merges:  # held until the run's last job ended
        merges.append((max(merges[-1][0], max(j.start + j.seconds for j in facts.jobs)), merges[-1][1]))
        a.step(*zip(*merges, strict=True), where="post", color="C3", label="final model, dev")
    _test_marks(a, facts)
    a.set(xlabel="seconds since the run began", ylabel="accuracy", title="score over time")
    a.legend(loc="best", fontsize=7) if a.get_legend_handles_labels()[0] else None
    colours = agent_colours(facts.jobs)
    for agent, colour in colours.items():
        for i, job in enumerate(j for j in facts.training if j.agent == agent and j.curve):
            b.plot([p[0] for p in job.curve], [p[1] for p in job.curve], color=colour, alpha=0.7, lw=1,
                   label=agent if i == 0 else None)
    b.set(xlabel="training step", ylabel="dev accuracy (as the job reported it)", title="each job's dev curve")
    b.legend(loc="best", fontsize=7, title="replica", title_fontsize=7) if b.get_legend_handles_labels()[0] else None
    fig.tight_layout()
    return _save(fig, path)


def _test_marks(ax: Any, facts: RunFacts) -> None:
    base, test = facts.result.get("baseline_score"), facts.result.get("test_score")
    end = max([j.start + j.seconds for j in facts.jobs] or [0.0])
    if isinstance(base, int | float):
        ax.axhline(base, color="0.3", ls=":", lw=1, label="base model, test")
    if isinstance(test, int | float) and facts.result.get("final_members"):
        ax.scatter([end], [test], marker="*", s=120, color="C3", edgecolor="k", zorder=4, label="final model, test")


def timeline_plot(facts: RunFacts, path: Path) -> Path | None:
    """One lane per slot; a bar per job from its start for as long as it ran."""
    if not facts.jobs:
        return None
    plt = _pyplot()
    from matplotlib.patches import Patch

    slots = slot_order(facts.jobs)
    colours = agent_colours(facts.jobs)
    by_id = {j.job_id: j for j in facts.jobs}
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * len(slots)), dpi=100)
    span = (max(j.start + j.seconds for j in facts.jobs) - min(j.start for j in facts.jobs)) or 1.0
    for job in facts.jobs:
        y = slots.index(job.slot)
        owner = by_id[job.of].agent if job.of in by_id else job.agent
        style = _bar_style(job, colours.get(owner, "0.6"))
        ax.barh(y, max(job.seconds, span / 400), left=job.start, height=0.7, **style)
        if job.kind == "training" and job.seconds > span * 0.07 and job.node:
            ax.text(job.start + job.seconds / 2, y, job.node, ha="center", va="center", fontsize=7, color="white")
    ax.set_yticks(range(len(slots)), slots)
    ax.invert_yaxis()
    ax.set(xlabel="seconds since the run began", title="jobs per slot (bars: training, labelled with the node)")
    kinds = {j.kind for j in facts.jobs} | {"failed" for j in facts.training if j.status not in ("ok", "unfinished")}
    handles = [Patch(color=c, label=f"training, {a}") for a, c in colours.items()]
    handles += [patch for kind, patch in (
        ("failed", Patch(facecolor="0.6", alpha=0.45, edgecolor="k", label="training that failed (pale)")),
        ("dev_eval", Patch(facecolor="white", edgecolor="0.3", hatch="////", label="harness dev evaluation")),
        ("merge_eval", Patch(facecolor="0.85", edgecolor="0.3", hatch="xx", label="editor's merge evaluation")))
        if kind in kinds]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def _bar_style(job: Job, colour: Any) -> dict:
    if job.kind == "dev_eval":
        return {"color": "white", "edgecolor": colour, "hatch": "////", "linewidth": 1}
    if job.kind == "merge_eval":
        return {"color": "0.85", "edgecolor": "0.3", "hatch": "xx", "linewidth": 1}
    failed = job.status not in ("ok", "unfinished")
    return {"color": colour, "edgecolor": "k" if failed else colour, "alpha": 0.45 if failed else 0.9}


def spend_plot(facts: RunFacts, path: Path) -> Path:
    plt = _pyplot()
    spend = facts.result.get("spend_by_role", {})
    roles = sorted(spend)
    fig, ax = plt.subplots(figsize=(6, 0.9 + 0.35 * max(len(roles), 1)), dpi=100)
    ax.barh([r or "harness" for r in roles], [spend[r].get("job_seconds", 0) for r in roles], color="C2",
            label="job-seconds (training and evaluation)")
    ax.invert_yaxis()
    ax.set(xlabel="job-seconds", title="spend per role")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
