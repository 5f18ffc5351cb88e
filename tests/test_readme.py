"""The README's commands, run exactly as printed from a fresh working directory: the "Two commands" block's
`make demo` (through `make -f`, so that its runs land in the fresh folder; `make test` is this suite) and every
line of the "Using it" block, with `.venv` the repo's and `SYNTHTEAM_BUDGET_CAP=15s` (documented in the README)
the only change. Each must exit 0 and leave what the README says it makes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ENV = {**os.environ, "SYNTHTEAM_BUDGET_CAP": "15s", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def block(heading: str) -> list[str]:
    """The commands of the first bash block under `heading`: comments dropped, continuations joined."""
    section = README[README.index(f"## {heading}\n"):]
    body = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands, current = [], ""
    for line in body.splitlines():
        current += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            commands.append(_uncommented(current).strip())
            current = ""
    return [c for c in commands if c]


def _uncommented(line: str) -> str:
    """The line as printed, without its trailing comment (two or more spaces, then `# `)."""
    return re.split(r"\s{2,}# ", line, maxsplit=1)[0]


def _run(command: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess, command: str) -> None:
    assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_the_readme_has_the_blocks_this_test_runs():
    assert block("Two commands") == ["make demo", "make test"]
    using = block("Using it")
    assert len(using) >= 15 and all(c.startswith(".venv/bin/synthteam ") for c in using), using
    assert any(" run " in f" {c} " and "--out" not in c for c in using)  # a run named by the clock, as a user types it


def test_make_demo_runs_as_printed_and_leaves_a_report(tmp_path):
    assert block("Two commands")[0] == "make demo"
    proc = _run(f"make -f {ROOT / 'Makefile'} demo", tmp_path, timeout=900)
    _ok(proc, "make demo")
    assert "sandbox: bubblewrap" in proc.stdout  # says what it found (or did) about isolation
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "report.html").exists() and (runs[0] / "result.json").exists()
    assert f"report: {runs[0] / 'report.md'}" in proc.stderr
    from sandbox.local import cpu_clock_problem

    clock = "wall" if cpu_clock_problem() else "cpu"  # every output says which clock the job-seconds are on
    assert json.loads((runs[0] / "result.json").read_text())["clock"] == clock
    assert f"job_seconds ({'CPU' if clock == 'cpu' else 'wall'})" in proc.stderr


def _expect(command: str, cwd: Path, proc: subprocess.CompletedProcess) -> None:
    """What the README says the command makes."""
    out = proc.stdout
    if "--png g.png" in command:
        assert (cwd / "g.png").stat().st_size > 1000
    if "--yaml >" in command:
        assert "agents:" in (cwd / "my_team.yaml").read_text()
    if "schema team" in command:
        assert json.loads((cwd / "team.schema.json").read_text())["properties"]["agents"]
    if "task starter" in command:
        assert (cwd / "sol" / "train.py").exists()
    if "solution run" in command:
        assert "harness_dev" in json.loads(out.strip().splitlines()[-1])
    if "hello from the sandbox" in command:
        assert "hello from the sandbox" in out
    if command.split()[1] == "verify":
        assert "test_score" in json.loads(out.strip().splitlines()[-1])
    if command.split()[1] == "noise":
        assert json.loads((cwd / "noise" / "reverse" / "noise.json").read_text())["test"]
    if "--plan" in command:
        assert "minimum detectable difference" in (out + proc.stderr).lower() or "mde" in (out + proc.stderr).lower()
    if "--out comparison" in command:
        assert json.loads((cwd / "comparison" / "comparison.json").read_text())


@pytest.mark.timeout(1800)
def test_every_using_it_command_runs_as_printed_from_a_fresh_folder(tmp_path):
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    run_id = None
    for command in block("Using it"):
        if "<run-id>" in command:
            assert run_id, f"`{command}` names a run, but no run came before it"
            command = command.replace("<run-id>", run_id)
        proc = _run(command, tmp_path)
        _ok(proc, command)
        if command.split()[1] == "run":
            run_id = json.loads(proc.stdout.strip().splitlines()[-1])["run_id"]
            assert (tmp_path / "runs" / run_id / "report.html").exists()
        _expect(command, tmp_path, proc)
