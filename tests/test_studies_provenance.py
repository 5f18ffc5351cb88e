"""A run records what its numbers depend on besides code, task and seed (sandbox.host), and a comparison says
whether its cells shared one environment or names the fields in which they differed (team.studies.provenance)."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import version
from pathlib import Path

from sandbox.host import environment, source
from team.studies.provenance import cell_environments
from team.views.comparison import environment_line

ROOT = Path(__file__).resolve().parents[1]


def test_the_environment_names_the_commit_the_libraries_and_the_cpu():
    source.cache_clear()  # a process's first answer is kept; this test compares it with git now
    env = environment()
    assert env["versions"]["torch"] == version("torch") and env["versions"]["scipy"] == version("scipy")
    assert env["cpu"]["cores"] >= 1 and env["cpu"]["vector"] in ("avx512f", "avx2", "avx", "sse4_2", "asimd", None)
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert env["source"]["commit"] == head.strip() and isinstance(env["source"]["dirty"], bool)


def _cells(tmp_path, envs):
    rows = []
    for seed, env in enumerate(envs):
        run = tmp_path / f"s{seed}"
        run.mkdir()
        if env is not None:
            (run / "manifest.json").write_text(json.dumps({"run_id": run.name, **env}))
        rows.append({"task": "arith-hf", "arm": "solo", "seed": seed, "run_dir": run})
    return rows


def test_cells_in_one_environment_get_one_line_naming_it(tmp_path):
    env = environment()
    summary = cell_environments(_cells(tmp_path, [env, env, env]))
    assert summary["same"] and len(summary["environments"][0]["cells"]) == 3
    line = environment_line(summary)
    assert line.startswith("Environment: every cell ran on synthteam") and f"torch {env['versions']['torch']}" in line


def test_cells_that_differ_are_named_with_the_field_and_how_many_cells_had_each_value(tmp_path):
    env = environment()
    other = {**env, "versions": {**env["versions"], "transformers": "9.9.9"}, "cpu": {**env["cpu"], "vector": "avx2"}}
    summary = cell_environments(_cells(tmp_path, [env, other, env, None]))
    assert not summary["same"] and summary["unknown"] == ["arith-hf/solo/s3"]
    line = environment_line(summary)
    assert "the cells ran in 2 environments" in line and '"9.9.9" in 1' in line and '"avx2" in 1' in line
    assert f'versions.transformers: "{env["versions"]["transformers"]}" in 2' in line
    assert "(1 cells without a manifest.json)" in line and "torch" not in line.split("differ in")[1]
