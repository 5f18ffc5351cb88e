"""Where a recipe's seed noise comes from, on arith-hf and arith-hard (issue 21, point 5): the sealed test score of
each final model of a `synthteam noise` folder, split by the kind of word problem (the task's make_data.py
kinds), and the test score's variance split into what the kinds contribute on their own (each kind's share² ×
its sd², as if kinds moved independently) and what they share (the rest: a run that learns faster learns every
kind faster). Reads the verifier's Inspect logs the noise runs keep (RUN/verify/model/*.eval); trains nothing.

Run: `.venv/bin/python benchmarks/noise_by_kind.py NOISE_DIR` (e.g. the folder `synthteam noise --task arith-hard
--runs 5 --out NOISE_DIR` wrote).
"""

from __future__ import annotations

import collections
import os
import re
import statistics
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def kind(question: str) -> str:
    """The make_data.py kind of an arith-hf / arith-hard question (the `_big` kinds are arith-hard's own)."""
    if m := re.search(r"has (\d+) \w+\. \w+ buys (\d+) more", question):
        return "add_big" if int(m[1]) >= 10 else "add"
    if m := re.search(r"has (\d+) \w+\. \w+ gives (\d+) of them", question):
        return "sub_big" if int(m[1]) - int(m[2]) >= 10 else "sub"
    if "bags with" in question:
        return "two_step"
    if m := re.search(r"boxes with (\d+)", question):
        return "mul_big" if int(m[1]) >= 6 else "mul"
    if m := re.search(r"among (\d+) friends", question):
        return "div_big" if int(m[1]) >= 6 else "div"
    return "other"


def main() -> None:
    from inspect_ai.log import read_eval_log

    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: noise_by_kind.py NOISE_DIR (a folder `synthteam noise --out` wrote)")
    runs = sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "verify" / "model").is_dir())
    if len(runs) < 2:
        sys.exit(f"noise_by_kind: fewer than two runs with a verified model under {sys.argv[1]}")
    right: dict[str, dict[str, list[bool]]] = collections.defaultdict(dict)
    totals = []
    for run in runs:
        log = read_eval_log(str(max((run / "verify" / "model").glob("*.eval"))))
        by_kind = collections.defaultdict(list)
        for sample in log.samples or []:
            text = sample.input if isinstance(sample.input, str) else sample.input[-1].text
            by_kind[kind(text)].append(next(iter(sample.scores.values())).value == "C")
        for k, marks in by_kind.items():
            right[k][run.name] = marks
        totals.append(sum(map(sum, by_kind.values())) / sum(map(len, by_kind.values())))
    n_all = sum(len(next(iter(row.values()))) for row in right.values())
    print(f"| kind | items | {' | '.join(r.name for r in runs)} | sd | share |\n|---|---|{'---|' * len(runs)}---|---|")
    alone = 0.0
    for k in sorted(right):
        accs = [sum(right[k][r.name]) / len(right[k][r.name]) for r in runs]
        n, sd = len(right[k][runs[0].name]), statistics.stdev(accs)
        alone += (n / n_all) ** 2 * sd**2
        print(f"| {k} | {n} | {' | '.join(f'{a:.2f}' for a in accs)} | {sd:.3f} | {n / n_all:.2f} |")
    total = statistics.variance(totals)
    print(f"\ntest score {' · '.join(f'{t:.3f}' for t in totals)}: sd {total ** 0.5:.4f}; the kinds on their own "
          f"{alone ** 0.5:.4f} ({alone / total:.0%} of the variance), shared across kinds "
          f"{max(total - alone, 0.0) ** 0.5:.4f} ({max(total - alone, 0.0) / total:.0%})")


if __name__ == "__main__":
    main()
