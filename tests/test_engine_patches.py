"""Engineers write code: an LLM engineer (a real OpenAI-protocol server on 127.0.0.1) answers with a patch
the runtime applies to its parent's program; a patch that does not apply goes back to it with the error;
the tree keeps every node's files; the scripted team grows code changes and the report shows the diff."""

from __future__ import annotations

import difflib
import json
import re

from tasks import load_task
from tasks.solutions import starter
from tests.engine_rig import rows_of, run_scripted
from tests.openai_server import OpenAIServer, completion_body
from tests.test_run import _schema_name


def _diff(old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        "a/train.py", "b/train.py"))


def _patching_server(good: bool):
    program = starter(load_task("reverse")).files["train.py"]
    patched = program.replace("GRAD_CLIP = 1.0", "GRAD_CLIP = 0.5")
    diff = _diff(program, patched) if good else _diff(program.replace("GRAD_CLIP", "GRAD_CLAP"), patched)
    asked = []

    def answer(body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        name = _schema_name(body)
        if name == "Plan":
            n = int(re.search(r"Propose (\d+)", prompt).group(1))
            out = {"proposals": [{"config": {"lr": 3e-3}, "node": "starter", "operator": "improve",
                                  "rationale": f"clip harder {i}"} for i in range(n)]}
        elif name == "JobSpec":
            asked.append(prompt)
            out = {"config": {"lr": 3e-3}, "seed": 1, "wall_seconds": 10, "patch": {"diff": diff},
                   "note": "lower the gradient clip"}
        else:
            out = {"decision": "accept", "reasons": ["fine"]}
        return completion_body(json.dumps(out), prompt_tokens=len(prompt) // 4)

    return answer, asked


def test_an_llm_engineers_patch_runs_as_a_new_node(tmp_path):
    answer, asked = _patching_server(good=True)
    with OpenAIServer(handler=answer) as server:
        run, result = run_scripted(tmp_path, "pair", model="openai/test", api_base=server.url,
                                   budget="wall=30s,job_seconds=40s")
    assert asked and "--- train.py" in asked[0] and "GRAD_CLIP = 1.0" in asked[0]  # it saw its parent's files
    nodes = [r for r in rows_of(run) if r["event"] == "node" and r["operator"] == "improve"]
    assert nodes and all(n["diff_lines"] > 0 and n["parent_node"] == "starter" for n in nodes)
    program = (run / "tree" / nodes[0]["id"] / "train.py").read_text()
    assert "GRAD_CLIP = 0.5" in program and "LR = 0.003" in program  # the patch, then the constants
    assert result["final_node"] in {n["id"] for n in nodes}


def test_a_patch_that_does_not_apply_goes_back_with_the_error(tmp_path):
    """The patch is checked against the parent's files before anything runs (roles.checks.job_patch): the
    engineer gets repair turns with the error, then the scripted engineer answers; the broken patch never
    becomes a node or a job."""
    answer, asked = _patching_server(good=False)
    with OpenAIServer(handler=answer) as server:
        run, _ = run_scripted(tmp_path, "pair", model="openai/test", api_base=server.url,
                              budget="wall=20s,job_seconds=30s")
    rows = rows_of(run)
    calls = [r for r in rows if r["event"] == "model_call" and r["role"] == "engineer" and not r["call"].endswith("/plan")]
    assert calls and all(c["source"] == "fallback" for c in calls), [c["source"] for c in calls]
    assert all(any("does not apply" in p or "hunk" in p for p in c["problems"]) for c in calls)
    assert any("does not apply" in prompt or "hunk" in prompt for prompt in asked[1:])  # the repair turn saw why
    assert not any("GRAD_CLIP = 0.5" in path.read_text() for path in (run / "tree").glob("*/train.py"))


def test_the_scripted_team_grows_code_and_the_report_shows_the_diff(tmp_path):
    # a bonus for each operator well above the toy's seed noise (±0.02): the starter's own text seeds that noise
    run, result = run_scripted(tmp_path, "research", budget="wall=60s,job_seconds=400s", code_bonus=0.08)
    nodes = [r for r in rows_of(run) if r["event"] == "node"]
    code = [n for n in nodes if n["operator"] != "tune"]
    assert code and all(n["operators"] for n in code)
    assert result["final_operators"], result["final_node"]  # the toy rewards code: the final program has some
    report = (run / "report.md").read_text()
    assert "## Tree of attempts" in report and "## The final solution against the starter" in report
    assert "[operator: " in report.split("## The final solution against the starter")[1]
