"""The comparison for a reader: comparison.md (a table per task: mean test score, 95% CI, paired
difference to solo with its p-values and call, dev–test gap, failures, budget used; the power line: the
minimum detectable difference) and comparison.html with plots (best dev score against job-seconds per
arm; per-seed test scores with their intervals).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

__all__ = ["write_markdown", "write_html", "summary_table", "seed_table"]

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _f(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def summary_table(task: dict[str, Any], reference: str | None) -> tuple[list[str], list[list[str]]]:
    head = ["arm", "mean test", "95% CI", *_diff_head(reference), "dev−test gap", "failures", "job-s used (mean)",
            "scripted fallback"]
    rows = []
    for name, arm in task["arms"].items():
        gap = arm["dev_test_gap"]
        fails = arm["failures"]
        rows.append([name, _f(arm["mean"]), f"[{_f(arm['ci']['low'])}, {_f(arm['ci']['high'])}]",
                     *_diff_cells(task["paired"].get(name), name, reference),
                     _signed(gap["mean"]) if gap else "-",
                     f"{fails['failures']}/{fails['runs']}" + (f" ({fails['flagged']} flagged)" if fails["flagged"] else ""),
                     _f(arm["job_seconds_used_mean"], 1), _share(arm.get("fallback_share_mean"))])
    return head, rows


def _diff_head(reference: str | None) -> list[str]:
    return [f"paired diff vs {reference or '-'}", "diff 95% CI", "diff t-CI", "p (t / Wilcoxon)", "call"]


def _diff_cells(diff: dict | None, name: str, reference: str | None) -> list[str]:
    """An arm's paired difference against the reference as the columns `_diff_head` names."""
    if not diff:
        return ["reference" if name == reference else "-", "-", "-", "-", "-"]
    return [_signed(diff["mean"]), f"[{_signed(diff['ci']['low'])}, {_signed(diff['ci']['high'])}]",
            f"[{_signed(diff['ci_t']['low'])}, {_signed(diff['ci_t']['high'])}]" if diff["ci_t"] else "-",
            _p_values(diff), diff.get("verdict") or diff["call"]]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _fallback_line(task: dict) -> str:
    fb = task.get("fallback") or {}
    if not fb:
        return "scripted fallback: not checked"
    head = f"scripted fallback: cells whose LLM decisions fell back more than {fb['threshold']:.0%} are flagged"
    return head + (" — FLAGGED: " + "; ".join(fb["flagged"]) if fb["flagged"] else " — none")


def _p_values(diff: dict | None) -> str:
    if not diff or diff.get("p_t") is None:
        return "-"
    return f"{diff['p_t']:.3g} / {diff['p_wilcoxon']:.3g}"


def _power_line(task: dict) -> str:
    power = task.get("power")
    if not power:
        return "power: not computed"
    if power["mde"] is None:
        head = f"power: no noise floor, so no minimum detectable difference before the fact ({power['seeds']} seeds)"
    else:
        head = (f"power: with {power['seeds']} paired seeds the minimum detectable difference (MDE) is "
                f"{power['mde']:.3f} ({power['test']} at α {power['alpha']:g}, power {power['power']:g}; "
                f"paired sd {power['paired_sd']:.4f} = {power['basis']})")
        head += _range_text(power)
    if power.get("detect") is not None:
        need = power["seeds_for_detect"]
        head += f"; a difference of {power['detect']:g} needs {need if need is not None else 'an unreachable number of'} seeds"
    observed = [f"{arm} {_f(a['diff_sd'], 4)} (MDE {_f(a['mde_observed'])})" for arm, a in power["arms"].items()
                if a["diff_sd"] is not None]
    return head + ("; observed paired sd: " + ", ".join(observed) if observed else "")


def _range_text(power: dict) -> str:
    """The planned MDE's range over the noise floor's own uncertainty ('' when the floor gave no run count)."""
    low, high = power.get("mde_range") or (None, None)
    if low is None or high is None:
        return ""
    return (f"; the noise floor is {power['noise_runs']} runs, so its sd is known only within a 95% interval that "
            f"puts this MDE between {low:.3f} and {high:.3f}")


def seed_table(task: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    seeds = sorted({int(s) for arm in task["arms"].values() for s in arm["seeds"]})
    rows = []
    for name, arm in task["arms"].items():
        by_seed = {int(s): row for s, row in arm["seeds"].items()}
        rows.append([name] + [_seed_cell(by_seed.get(s)) for s in seeds])
    return ["arm"] + [f"s{s}" for s in seeds], rows


def _seed_cell(row: dict | None) -> str:
    if row is None:
        return "-"
    mark = " ✗" if row["failure"] else ""
    return f"{row['test_score']:.3f} (dev {_f(row['dev_score'])}){mark}"


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _noise_line(noise: dict | None) -> str:
    if not noise:
        return "noise floor: not measured (ties are called by the paired interval alone)"
    return (f"noise floor: reference recipe test sd {_f(noise['test_sd'], 4)} over {noise['runs']} seeds "
            f"(mean {_f(noise['test_mean'])}); differences under 2σ = {_f(noise['tie_threshold'], 4)} are ties")


def _budget_line(budget: dict) -> str:
    limits = ", ".join(f"{k} {v:g}" for k, v in budget["limits"].items())
    verdict = "matched: every arm's ledger shows these limits and stayed inside them" if budget["matched"] else \
        "NOT matched: " + "; ".join(budget["problems"][:6])
    clock = budget.get("clock")
    clock = f" (job_seconds on the {'CPU' if clock == 'cpu' else clock} clock)" if clock else ""
    return f"budget per cell: {limits}{clock} — {verdict}"


def _task_lines(name: str, task: dict, reference: str | None) -> list[str]:
    lines = [f"## Task {name}", "", f"- {_noise_line(task['noise'])}", f"- {_power_line(task)}",
             f"- {_budget_line(task['budget'])}", f"- {_fallback_line(task)}", ""]
    lines += _md_table(*summary_table(task, reference))
    lines += ["", "Compute per arm (means over seeds; slot-seconds available = wall-clock limit × job slots):", ""]
    lines += _md_table(*compute_table(task))
    lines += [f"- **warning**: {w}" for w in task.get("warnings", [])]
    lines += [f"- **budget left unused**: {task['unused']}"] if task.get("unused") else []
    lines += ["", "Test score per seed (dev score in brackets; ✗ = failure: crashed, flagged or no model — "
                  "scored at the baseline and kept):", ""]
    lines += _md_table(*seed_table(task))
    failed = [f"{arm} s{s}: {row['failure']}" for arm, a in task["arms"].items() for s, row in a["seeds"].items()
              if row["failure"]]
    lines += ([""] + [f"- {f}" for f in failed] if failed else []) + [""]
    return lines + _recipe_lines(task.get("recipes"), reference)


def recipe_intro(recipes: dict) -> str:
    k = recipes["seeds"]
    return (f"Recipes on {k} shared seeds: each cell's final recipe (its train.py, or the soup of several) trained "
            f"again from the base model on seeds 0..{k - 1}, the same seeds for every arm and cell, each model scored "
            "by the verifier on the sealed test split; a cell's recipe score is their mean. It keeps what each arm "
            "found and removes the seed its run happened to draw: two cells that returned the same recipe score the "
            "same. This compute is the verifier's, outside every arm's budget.")


def recipe_table(recipes: dict, reference: str | None) -> tuple[list[str], list[list[str]]]:
    head = ["arm", "mean recipe score", "95% CI", *_diff_head(reference), "distinct recipes",
            "cells kept at their model's score"]
    rows = []
    for name, arm in recipes["arms"].items():
        ci = arm.get("ci") or {}
        rows.append([name, _f(arm.get("mean")), f"[{_f(ci.get('low'))}, {_f(ci.get('high'))}]" if ci else "-",
                     *_diff_cells(recipes["paired"].get(name), name, reference),
                     str(arm.get("distinct", 0)), str(arm.get("unscored", 0))])
    return head, rows


def recipe_seed_table(recipes: dict) -> tuple[list[str], list[list[str]]]:
    seeds = sorted({int(s) for arm in recipes["arms"].values() for s in arm["cells"]})
    rows = []
    for name, arm in recipes["arms"].items():
        cells = {int(s): row for s, row in arm["cells"].items()}
        rows.append([name] + [_recipe_cell(cells.get(s)) for s in seeds])
    return ["arm"] + [f"s{s}" for s in seeds], rows


def _recipe_cell(row: dict | None) -> str:
    if row is None:
        return "-"
    if row["recipe"] is None:
        return f"{row['score']:.3f} ✗ ({row['why']})"
    what = f" {row['what']}" if row.get("what") else ""
    return f"{row['score']:.3f} `{row['recipe'][:8]}`{what} ({' · '.join(f'{x:.3f}' for x in row['scores'])})"


def _recipe_lines(recipes: dict | None, reference: str | None) -> list[str]:
    if not recipes:
        return []
    lines = ["### Recipes on shared seeds", "", recipe_intro(recipes), "", f"- {_power_line(recipes)}", ""]
    lines += _md_table(*recipe_table(recipes, reference))
    lines += ["", "Recipe score per cell (the recipe's id, what it changes from the prior, its score on each shared "
                  "seed):", ""]
    return lines + _md_table(*recipe_seed_table(recipes)) + [""]


def compute_table(task: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["arm", "job-seconds used", "tokens", "model calls", "wall used (s)", "slot-seconds available"]
    rows = []
    for name, arm in task["arms"].items():
        c = arm.get("compute") or {}
        rows.append([name, _f(c.get("job_seconds"), 1), _f(c.get("tokens"), 0), _f(c.get("model_calls"), 0),
                     _f(c.get("wall"), 1), _f(c.get("slot_seconds_available"), 0)])
    return head, rows


def _horizon(comparison: dict) -> str:
    tokens = comparison.get("job_tokens")
    return f", one job's horizon {tokens:,} training tokens (`--job-tokens`, not the task's own)" if tokens else ""


def _header(comparison: dict) -> list[str]:
    arms = comparison["arms"]
    return [f"# Team vs solo: {', '.join(arms)} on {', '.join(comparison['tasks'])}", "",
            f"{comparison['seeds']} seeds per arm, budget `{comparison['budget'] or 'task default'}` per cell, "
            f"executor {comparison['executor']}, prior **{comparison.get('prior', 'reference')}** (what every arm "
            f"starts from){_horizon(comparison)}. Scores are the verifier's, on the sealed test split.", "",
            "Arms:", ""] + [f"- **{n}**: {a['what']}" for n, a in arms.items()] + [
            "", f"Calls: {comparison['tie_rule']}; win/loss otherwise. Intervals are 95% BCa bootstrap "
                "(scipy, 10000 resamples) over seeds; differences are paired by seed. With under ~10 seeds a "
                "bootstrap interval is too narrow (benchmarks/bench_compare.py), so a call also needs the Student t "
                "interval (t-CI, the paired t test) to exclude 0. p-values: paired t and Wilcoxon signed-rank, "
                "two-sided (the exact signed-rank test cannot go below 0.0625 with 5 seeds). A tie says the "
                "largest difference that could have gone unseen: the MDE, a paired t test's 80%-power difference.",
            "", environment_line(comparison.get("environment")), ""]


def environment_line(summary: dict | None) -> str:
    """One line: the environment every cell shared, or which fields differed between cells and how often."""
    if not summary or not summary["environments"]:
        return "Environment: not recorded (no cell has a manifest.json)."
    unknown = f" ({len(summary['unknown'])} cells without a manifest.json)" if summary["unknown"] else ""
    if summary["same"]:
        env = summary["environments"][0]["environment"]
        versions = env.get("versions") or {}
        libs = ", ".join(f"{k} {v}" for k, v in versions.items() if v and k in _SHOWN)
        source, cpu = env.get("source") or {}, env.get("cpu") or {}
        code = f"synthteam {source['commit'][:12]}{' with local changes' if source.get('dirty') else ''}" \
            if source.get("commit") else "synthteam (commit unknown)"
        host = f"{cpu.get('model') or env.get('machine')} ({cpu.get('vector') or '?'}, {cpu.get('cores')} cores)" \
            if cpu else env.get("machine") or "?"
        gpus = f", GPUs {', '.join(env['gpus'])}" if env.get("gpus") else ""
        return f"Environment: every cell ran on {code}, {libs}, Python {env.get('python')}, {host}{gpus}{unknown}."
    diffs = "; ".join(f"{field}: " + ", ".join(f"{value} in {n}" for value, n in counts.items())
                      for field, counts in summary.get("differences", {}).items())
    return (f"**Environment: the cells ran in {len(summary['environments'])} environments** (a rerun of a cell "
            f"may differ from its row here); they differ in {diffs}{unknown}.")


_SHOWN = ("torch", "transformers", "peft", "inspect_ai", "numpy")


def write_markdown(comparison: dict, path: Path) -> Path:
    lines = _header(comparison)
    for name, task in comparison["tasks"].items():
        lines += _task_lines(name, task, comparison["reference_arm"])
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    return Path(path)


# -- html --------------------------------------------------------------------------------------------
def _html_table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _curve_plot(name: str, task: dict) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=100)
    for i, (arm, data) in enumerate(task["arms"].items()):
        colour, label = _COLOURS[i % len(_COLOURS)], arm
        for row in data["seeds"].values():
            if row["curve"]:
                xs, ys = zip(*row["curve"], strict=True)
                ax.step(xs, ys, where="post", color=colour, alpha=0.7, label=label)
                label = None  # one legend entry per arm, on its first seed that has a curve
    ax.set_xlabel("job-seconds spent")
    ax.set_ylabel("best dev score so far")
    ax.set_title(f"{name}: best dev score against compute (one line per seed)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no seed scored a dev evaluation", ha="center", va="center", transform=ax.transAxes)
    return _png(fig)


def _score_plot(name: str, task: dict, title: str = "test score per seed, mean with 95% CI",
                ylabel: str = "test score") -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=100)
    arms = list(task["arms"].items())
    for i, (_, data) in enumerate(arms):
        colour = _COLOURS[i % len(_COLOURS)]
        rows = list(data["seeds"].values())
        xs = [i + 0.08 * (j - (len(rows) - 1) / 2) for j in range(len(rows))]
        ax.scatter(xs, [r["test_score"] for r in rows], color=colour, alpha=0.6,
                   marker="o", edgecolors=["black" if r["failure"] else colour for r in rows])
        low, high = data["ci"]["low"], data["ci"]["high"]
        ax.errorbar([i + 0.3], [data["mean"]], yerr=[[data["mean"] - low], [high - data["mean"]]], fmt="D",
                    color=colour, capsize=5)
    baselines = [r["baseline_score"] for _, d in arms for r in d["seeds"].values() if r["baseline_score"] is not None]
    if baselines:  # named on the line itself: a legend box in a corner hid the seeds that scored highest
        ax.axhline(baselines[0], color="grey", linestyle=":")
        ax.annotate("baseline (base model)", xy=(0.99, baselines[0]), xycoords=("axes fraction", "data"),
                    xytext=(0, 2), textcoords="offset points", ha="right", va="bottom", fontsize=8, color="grey")
    ax.set_xticks(range(len(arms)), [a for a, _ in arms])
    ax.set_ylabel(ylabel)
    ax.set_title(f"{name}: {title}")
    return _png(fig)


def _recipe_plot(name: str, recipes: dict) -> str:
    """Each cell's recipe score (the mean over the shared seeds) per arm, with the arm's mean and 95% CI."""
    arms = {arm: {"mean": data["mean"], "ci": data["ci"],
                  "seeds": {s: {"test_score": row["score"], "failure": row["recipe"] is None, "baseline_score": None}
                            for s, row in data["cells"].items()}}
            for arm, data in recipes["arms"].items() if data.get("mean") is not None}
    return _score_plot(name, {"arms": arms}, f"recipe score per cell ({recipes['seeds']} shared seeds)",
                       "recipe score (mean test score)")


def write_html(comparison: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    parts = [f"<h1>{html.escape(_header(comparison)[0][2:])}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in _header(comparison)[2:] if line and line != "Arms:"]
    for name, task in comparison["tasks"].items():
        parts += [f"<h2>Task {html.escape(name)}</h2>", f"<p>{html.escape(_noise_line(task['noise']))}</p>",
                  f"<p>{html.escape(_power_line(task))}</p>",
                  f"<p>{html.escape(_budget_line(task['budget']))}</p>",
                  f"<p>{html.escape(_fallback_line(task))}</p>",
                  _html_table(*summary_table(task, comparison["reference_arm"])),
                  f'<img alt="best score against job-seconds" src="data:image/png;base64,{_curve_plot(name, task)}">',
                  f'<img alt="per-seed test scores" src="data:image/png;base64,{_score_plot(name, task)}">',
                  "<h3>Per seed</h3>", _html_table(*seed_table(task))]
        if task.get("recipes"):
            recipes = task["recipes"]
            parts += ["<h3>Recipes on shared seeds</h3>", f"<p>{html.escape(recipe_intro(recipes))}</p>",
                      f"<p>{html.escape(_power_line(recipes))}</p>",
                      _html_table(*recipe_table(recipes, comparison["reference_arm"])),
                      f'<img alt="recipe scores per cell" src="data:image/png;base64,{_recipe_plot(name, recipes)}">',
                      _html_table(*recipe_seed_table(recipes))]
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}td:first-child{text-align:left}")
    Path(path).write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>comparison</title>"
                          f"<style>{style}</style></head><body>{''.join(parts)}</body></html>", encoding="utf-8")
    return Path(path)
