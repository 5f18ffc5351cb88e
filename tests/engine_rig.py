"""A rig for engine tests: a team file run through the real Session and runtime on a prepared task, with
`team.testing.ScriptedExecutor` (jobs take a moment and report a seeded score of their config) and
`toy_verify` in place of the verifier. Routing, rounds, budgets and resume are all real; only the
training and the final test scoring are toys.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from team import Hooks, RunOptions, start_run
from team.engine.records.events import read_events
from team.testing import ScriptedExecutor, toy_verify

__all__ = ["run_scripted", "rows_of", "messages", "agent_of", "calls_by_agent"]


def run_scripted(tmp_path: Path, team: str, *, name: str = "run", budget: str = "wall=60s,job_seconds=300s",
                 seconds: float = 0.05, seed: int = 0, task: str = "reverse", job_seconds: float = 10.0,
                 model_hook=None, code_bonus: float = 0.02, charge: float = 0.0, **options) -> tuple[Path, dict]:
    """Write `team` (YAML text, or a built-in name) and run it; returns (run dir, result). Each job reserves
    `job_seconds` (raised to the useful minimum, 9 s) and takes `seconds`, reporting at least `charge` of its limit
    as used. `model_hook(agent, model)` wraps
    or replaces each agent's model (Hooks.model)."""
    path = team
    if "\n" in team:
        path = tmp_path / f"{name}.yaml"
        path.write_text(team)
    out = tmp_path / name
    hooks = Hooks(executor=lambda _: ScriptedExecutor(out / "jobs", seconds=seconds, code_bonus=code_bonus,
                                                                charge=charge),
                  verify=toy_verify,
                  model=model_hook)
    result = start_run(RunOptions(team=str(path), task=task, out=str(out), budget=budget, seed=seed, progress=False,
                                  job_seconds=job_seconds, **options), hooks=hooks)
    return out, result


def rows_of(run: Path) -> list[dict]:
    return read_events(run / "events.jsonl")


def messages(run: Path) -> list[dict]:
    return [r for r in rows_of(run) if r["event"] == "message"]


def agent_of(replica: str | None) -> str:
    return (replica or "").split("[", 1)[0]


def calls_by_agent(run: Path) -> Counter:
    return Counter(agent_of(r["agent"]) for r in rows_of(run) if r["event"] == "model_call")


def edge_counts(run: Path) -> Counter:
    return Counter(m["edge"] for m in messages(run))


def dump(run: Path) -> str:
    return json.dumps(edge_counts(run), indent=1)


def spawn_scripted(tmp_path: Path, team: str, *, name: str = "run", budget: str = "wall=60s,job_seconds=300s",
                   seconds: float = 0.05, seed: int = 0, resume: bool = False):
    """The same run in a child process (`python -m tests.engine_rig`), to kill it or interrupt it."""
    import os
    import subprocess
    import sys

    path = team
    if "\n" in team:
        path = tmp_path / f"{name}.yaml"
        path.write_text(team)
    cmd = [sys.executable, "-m", "tests.engine_rig", str(path), str(tmp_path / name), str(seconds), budget, str(seed),
           "resume" if resume else "start"]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def resume_scripted(out: Path, seconds: float = 0.05) -> dict:
    from team import resume_run

    hooks = Hooks(executor=lambda _: ScriptedExecutor(out / "jobs", seconds=seconds), verify=toy_verify)
    return resume_run(out, hooks=hooks, progress=False)


def _main(argv: list[str]) -> int:
    from sandbox.errors import ConfigError, SynthteamError

    team, out, seconds, budget, seed, mode = argv
    out = Path(out)
    try:
        if mode == "resume":
            resume_scripted(out, float(seconds))
        else:
            run_scripted(out.parent, team, name=out.name, budget=budget, seconds=float(seconds), seed=int(seed))
    except ConfigError as exc:
        print("\n".join(exc.problems), file=__import__("sys").stderr)
        return 2
    except SynthteamError as exc:
        print(str(exc), file=__import__("sys").stderr)
        return 128 + int(getattr(exc, "signum", 0) or 0) if getattr(exc, "signum", None) else 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
