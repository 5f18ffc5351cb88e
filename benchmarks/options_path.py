"""The path of a run's options through the code, and what a run imports: a measure anyone can rerun.

`start_run` runs a small scripted team (toy jobs, the toy verifier, no report progress). Every call of a
function of this repository that is handed the run's `RunOptions` (as any argument but `self`) is a stop;
the stops in call order give the walk of `options`. Printed: the stops, the modules they are in, how often
the walk returns to a module it had already left, and how many times each module is entered. A second part
runs `python -X importtime` on `import team` + a run's session module and counts this repository's modules
and their cumulative import time.

Run: `.venv/bin/python benchmarks/options_path.py [--root DIR]` (DIR: another checkout to measure, e.g. the
previous commit's `git worktree`).
"""

from __future__ import annotations

import argparse
import dis
import os
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

TOPS = ("team", "roles", "tasks", "sandbox", "groundwork")
TEAM = """name: walk
description: a director, an engineer, a critic and an editor, one round
defaults: {model: scripted}
agents:
  director: {role: director}
  engineer: {role: engineer}
  critic: {role: critic}
  editor: {role: editor}
edges:
  - {from: director, to: engineer}
  - {from: engineer, to: critic}
  - {from: critic, to: editor, when: accept}
stop: {rounds: 1}
"""


def walk(root: Path) -> list[str]:
    """The modules (paths relative to root) of every stop of `options`, in call order."""
    from team import Hooks, RunOptions, start_run
    from team.testing import ScriptedExecutor, toy_verify

    tmp = Path(tempfile.mkdtemp(prefix="options_path_"))
    (tmp / "walk.yaml").write_text(TEAM)
    out = tmp / "run"
    options = RunOptions(team=str(tmp / "walk.yaml"), task="reverse", out=str(out), budget="wall=60s,job_seconds=300s",
                         progress=False, job_seconds=10)
    hooks = Hooks(executor=lambda _: ScriptedExecutor(out / "jobs", seconds=0.05), verify=toy_verify)
    prefixes = tuple(str(root / top) + os.sep for top in TOPS)
    starts: dict = {}  # code -> the offset of its first RESUME: a call starts there, a coroutine resumes later
    stops: list[str] = []

    def profile(frame, what, arg):
        code = frame.f_code
        if what != "call" or not code.co_filename.startswith(prefixes):
            return
        if code not in starts:
            starts[code] = next((i.offset for i in dis.get_instructions(code) if i.opname == "RESUME"), 0)
        if frame.f_lasti != starts[code]:
            return  # a coroutine resumed after an await, not a new call
        names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        if any(isinstance(frame.f_locals.get(n), RunOptions) for n in names if n != "self"):
            stops.append(str(Path(code.co_filename).relative_to(root)))

    sys.setprofile(profile)
    threading.setprofile(profile)  # the checks that run in a thread (asyncio.to_thread) are on the path too
    try:
        start_run(options, hooks=hooks)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return stops


def summary(stops: list[str]) -> dict:
    entries: Counter = Counter()
    returns = 0
    for i, module in enumerate(stops):
        if i == 0 or stops[i - 1] != module:
            entries[module] += 1
            returns += module in stops[:i]
    return {"stops": len(stops), "modules": len(set(stops)), "returns": returns, "entries": entries}


def imports(root: Path) -> tuple[int, float]:
    """(this repository's modules imported, their cumulative import seconds) for `import team` and a run's
    session module, from `python -X importtime`."""
    code = ("import importlib, team\n"
            "for name in ('team.engine.run.session', 'team.engine.session'):\n"
            "    try:\n        importlib.import_module(name); break\n"
            "    except ModuleNotFoundError:\n        pass\n")
    env = {**os.environ, "PYTHONPATH": str(root), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env,
                         cwd=root).stderr
    ours, top_level = 0, 0.0
    for line in out.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if name.split(".")[0] in TOPS:
            ours += 1
        if name == "team":  # top-level: the whole import of team and what it pulls in
            top_level += int(cumulative) / 1e6
    return ours, top_level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="the checkout to measure")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.path.insert(0, str(root))
    os.chdir(root)
    stops = walk(root)
    s = summary(stops)
    print(f"{root}: the walk of options from start_run: {s['stops']} stops in {s['modules']} modules, "
          f"{s['returns']} returns to a module already left")
    for module, n in s["entries"].most_common():
        print(f"  {n:>2}x {module}")
    print("  walk: " + " -> ".join(m.removesuffix(".py") for i, m in enumerate(stops) if i == 0 or stops[i - 1] != m))
    ours, seconds = imports(root)
    print(f"import team + the session module: {ours} of this repository's modules, `import team` {seconds:.3f} s "
          "cumulative (-X importtime)")


if __name__ == "__main__":
    main()
