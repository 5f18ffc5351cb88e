"""`synthteam noise`: progress as each seed starts, and an interrupt that says how to resume the measurement
(rerun the same command), not one seed's run (`synthteam resume sN` would leave noise.json unwritten)."""

from __future__ import annotations

import json
import signal

import team
from team.cli import main
from team.engine.run.session import Interrupted


def _fake_runs(calls, stop_at=None):
    """start_run as the noise floor sees it: a result.json in the seed's folder, or Ctrl-C at seed `stop_at`."""

    def start_run(options):
        from pathlib import Path

        run_dir = Path(options.out)
        calls.append(options.seed)
        run_dir.mkdir(parents=True, exist_ok=True)
        if options.seed == stop_at:
            (run_dir / "manifest.json").write_text("{}")  # started, then stopped: resumable
            raise Interrupted(run_dir, signal.SIGINT)
        result = {"final_members": [f"job{options.seed}"], "jobs": {"ok": 1}, "flags": [], "dev_score": 0.5,
                  "test_score": [0.4, 0.5, 0.6][options.seed], "baseline_score": 0.05, "budget_used": {"job_seconds": 9.0}}
        (run_dir / "result.json").write_text(json.dumps(result))
        return result

    return start_run


def test_an_interrupted_noise_floor_says_rerun_the_same_command_and_that_resumes_it(tmp_path, monkeypatch, capsys):
    out = tmp_path / "floor"
    argv = ["noise", "--task", "reverse", "--runs", "3", "--out", str(out)]
    calls: list[int] = []
    monkeypatch.setattr(team, "start_run", _fake_runs(calls, stop_at=1))
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "seed 0 (1 of 3): the reference recipe (" in err and "seed 1 (2 of 3)" in err
    last = err.strip().splitlines()[-1]
    assert "interrupted by SIGINT in seed 1" in last and "rerun the same command" in last
    assert "synthteam resume" not in last and not (out / "noise.json").exists()

    # the same command again: seed 0 is read back (no new run, no start line), seed 1 resumes, seed 2 runs
    resumed: list[str] = []
    monkeypatch.setattr(team, "resume_run", lambda run_dir, progress: resumed.append(run_dir.name) or
                        _fake_runs(calls)(type("O", (), {"out": str(run_dir), "seed": 1})()))
    monkeypatch.setattr(team, "start_run", _fake_runs(calls))
    calls.clear()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "seed 0 (1 of 3)" not in err and "seed 2 (3 of 3)" in err
    assert resumed == ["s1"] and calls == [1, 2]
    noise = json.loads((out / "noise.json").read_text())
    assert [r["test"] for r in noise["runs"]] == [0.4, 0.5, 0.6]
