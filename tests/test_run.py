"""`synthteam run` end to end: real recipe jobs in the sandbox, real reviews and merges, the verifier
on the sealed split. Budgets are small so the whole module stays within a few minutes on 2 cores."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from team import RunOptions, resume_run, start_run
from team.engine.records.events import read_events

# One CPU token (tests/cpus.py): a parallel run pins the test to one core, and the run sizes one job slot
# for it, as on a one-core machine; every assertion here holds there (measured: `taskset -c 0`, LOG.md).

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> dict:
    """Run options on the quick task (prepared once for the module)."""
    from tasks import load_task, prepare_task

    task = quick_task(tmp_path_factory.mktemp("tasks"))
    prepare_task(load_task(str(task)))
    return dict(task=str(task), job_seconds=30.0, progress=False)


def _check_run_dir(run: Path, result: dict) -> None:
    for name in ("manifest.json", "events.jsonl", "result.json", "report.md", "report.html"):
        assert (run / name).exists(), name
    for key in ("baseline_score", "test_score", "flags", "budget_used", "budget_limits", "backend"):
        assert key in result
    assert set(result["budget_used"]) == set(result["budget_limits"])
    for key, limit in result["budget_limits"].items():
        if limit is not None and key != "wall":
            assert result["budget_used"][key] <= limit + 1e-6, key
    rows = read_events(run / "events.jsonl")
    assert all({"ts", "event", "run"} <= set(r) for r in rows)
    started = [r["key"] for r in rows if r["event"] == "job_started"]
    assert len(started) == len(set(started)), "a job ran twice"


@pytest.mark.parametrize("team", ["solo", "pair", "research"])
def test_builtin_team_end_to_end(tmp_path, team, quick):
    out = tmp_path / team
    result = start_run(RunOptions(team=team, out=str(out), budget="wall=40s,job_seconds=80s", **quick))
    _check_run_dir(out, result)
    assert result["backend"] == ["scripted"]
    assert result["jobs"].get("ok", 0) >= 1
    assert result["flags"] == []
    assert result["test_score"] >= result["baseline_score"]  # a flagged or missing model would get the baseline
    verdicts = [r for r in read_events(out / "events.jsonl") if r["event"] == "verdict"]
    accepted = [v["dev_accuracy"] for v in verdicts if v["decision"] == "accept"]
    assert (out / "final_model").is_dir() == bool(accepted)
    if accepted:
        assert result["dev_score"] >= max(accepted) - 1e-9 or team != "solo"
        assert result["final_members"]


def test_unseen_team_shape_runs(tmp_path, quick):
    team = tmp_path / "panel.yaml"
    team.write_text("""\
name: panel
description: a director, two engineers, a broadcast panel of three statisticians, no editor
agents:
  lead: {role: director}
  eng: {role: engineer, replicas: 2}
  panel: {role: statistician, replicas: 3}
roles:
  statistician: {extends: critic, prompt: "Accept only gains above twice the noise."}
edges:
  - {from: lead, to: eng}
  - {from: eng, to: panel, broadcast: true}
  - {from: panel, to: eng, when: revise, max_loops: 1}
  - {from: panel, to: lead, when: accept, max_loops: 3}
merge: best
stop: {rounds: 3}
""")
    out = tmp_path / "run"
    result = start_run(RunOptions(team=str(team), out=str(out), budget="wall=40s,job_seconds=80s", **quick))
    _check_run_dir(out, result)
    verdicts = [r for r in read_events(out / "events.jsonl") if r["event"] == "model_call" and r["role"] == "statistician"]
    assert len({r["agent"] for r in verdicts}) == 3  # every panel member reviewed


@pytest.mark.parametrize("seed", random.Random(7).sample(range(1000), 2))
def test_small_budgets_are_never_exceeded(tmp_path, seed, quick):
    rng = random.Random(seed)
    budget = f"wall={rng.randint(15, 30)}s,job_seconds={rng.randint(10, 40)}s,model_calls={rng.randint(3, 12)}"
    out = tmp_path / "run"
    result = start_run(RunOptions(team="research", out=str(out), budget=budget, seed=seed, **quick))
    _check_run_dir(out, result)
    assert result["budget_used"]["wall"] <= result["budget_limits"]["wall"] + 5.0  # + cancel grace


def quick_task(root: Path) -> Path:
    """The reverse task on 2-4 letter words with a narrow knob space: a 200-step job reaches dev 0.25
    (lr 3e-3) to 0.5 (lr 1e-2) in about 15 s, so a test run has real results to review, and jobs end by
    their step count well inside their time limit."""
    import re
    import shutil

    src = Path(__file__).resolve().parents[1] / "tasks" / "builtin" / "reverse"
    task = root / "quick-reverse"
    shutil.copytree(src, task)
    text = (task / "task.yaml").read_text().replace("name: reverse", "name: quick-reverse")
    text = re.sub(r"decoy: \{.*\}", "decoy: {steps: 20, batch_size: 32, lr: 3.0e-3, seed: 7}", text)
    text = re.sub(r"  steps: \{.*\}", '  steps: {kind: int, low: 60, high: 240, log: true, default: 120, help: "steps"}',
                  text)
    text = re.sub(r"reference: \{.*\}", "reference: {lr: 3.0e-3, steps: 200, batch_size: 32, n_train: 4000}", text)
    (task / "task.yaml").write_text(text)
    (task / "data.py").write_text(
        '"""quick reverse items: easy 2-3 letters, hard 3-4 letters."""\n\nimport random\nimport string\n\n\n'
        "def generate(rng: random.Random, hard: bool) -> dict:\n"
        "    n = rng.randint(3, 4) if hard else rng.randint(2, 3)\n"
        '    word = "".join(rng.choice(string.ascii_lowercase) for _ in range(n))\n'
        '    return {"prompt": f"reverse {word} =", "answer": word[::-1]}\n')
    return task


def _spawn(out: Path, task: Path) -> subprocess.Popen:
    team = out.parent / "pair4.yaml"
    team.write_text("name: pair4\nagents:\n  engineer: {role: engineer}\n  critic: {role: critic}\n"
                    "edges:\n  - {from: engineer, to: critic}\n  - {from: critic, to: engineer, max_loops: 3}\n"
                    "merge: best\nstop: {rounds: 3}\n")
    # Generous limits: every job ends by its step count long before its time limit, so results are exact.
    cmd = [sys.executable, "-m", "team.cli", "run", "--team", str(team), "--task", str(task), "--quiet",
           "--budget", "wall=600s,job_seconds=1200s", "--seed", "3", "--job-seconds", "120", "--out", str(out)]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _finished(run: Path) -> set[str]:
    return {r["key"] for r in read_events(run / "events.jsonl") if r["event"] == "job_finished"}


def _final_configs(run: Path, result: dict) -> list[dict]:
    rows = {r["job_id"]: r for r in read_events(run / "events.jsonl") if r["event"] == "job_finished"}
    return [rows[m]["outcome"]["config"] for m in result["final_members"]]


def test_resume_after_sigkill_gives_the_same_result(tmp_path, quick):
    task = Path(quick["task"])
    straight = tmp_path / "straight"
    proc = _spawn(straight, task)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-2000:]
    expected = json.loads((straight / "result.json").read_text())
    assert expected["final_members"], expected

    killed = tmp_path / "killed"
    proc = _spawn(killed, task)
    threshold = random.Random().randint(1, 3)  # a random point: after 1 to 3 finished jobs
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(_finished(killed)) < threshold and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = _finished(killed)
    assert finished_before and not (killed / "result.json").exists()

    result = resume_run(killed)
    assert result["test_score"] >= result["baseline_score"] and (killed / "result.json").exists()
    rows = read_events(killed / "events.jsonl")
    resumed_at = max(i for i, r in enumerate(rows) if r["event"] == "session_start")
    started_after = {r["key"] for r in rows[resumed_at:] if r["event"] == "job_started"}
    assert not finished_before & started_after, "a finished job ran again"
    # every job finished before the kill is on record once, with its result, in the resumed run
    done = [r for r in rows if r["event"] == "job_finished" and "outcome" in r]
    assert sorted(r["key"] for r in done) == sorted(set(r["key"] for r in done))
    verdicts = {r["job_id"] for r in rows if r["event"] == "verdict"}
    assert {r["job_id"] for r in done if r["key"] in finished_before} <= verdicts
    # decisions replay: the same rounds were planned, and up to the kill the same experiments ran
    plans = lambda run: [r["output"] for r in read_events(run / "events.jsonl")  # noqa: E731
                         if r["event"] == "model_call" and r["call"].endswith("/plan")]
    # (job ids differ between runs, and so do rationales that cite them: compare the configs)
    configs = lambda run: [[p["config"] for p in plan["proposals"]] for plan in plans(run)]  # noqa: E731
    assert configs(killed)[: len(finished_before)] == configs(straight)[: len(finished_before)]
    # and the same final result: jobs that end by their step count are reproducible, so the resumed run
    # re-runs the interrupted job to the same checkpoint and makes the same decisions after it
    assert configs(killed) == configs(straight)
    assert _final_configs(killed, result) == _final_configs(straight, expected)
    assert (result["dev_score"], result["test_score"]) == (expected["dev_score"], expected["test_score"])


# -- a team on the litellm backend, against a real OpenAI-protocol server on 127.0.0.1 ------------------

def _schema_name(body: dict) -> str:
    import re

    fmt = body.get("response_format") or {}
    if fmt.get("json_schema"):
        return fmt["json_schema"]["name"]
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    return re.search(r"JSON schema for (\w+)", system).group(1)


def answer_role(body: dict) -> dict:
    """Answer each role in its schema from what its prompt says, as a (very literal) LLM would."""
    import re

    from tests.openai_server import completion_body

    prompt = body["messages"][-1]["content"]
    name = _schema_name(body)
    if name == "Plan":
        r, n = int(re.search(r"Round (\d+)", prompt).group(1)), int(re.search(r"Propose (\d+)", prompt).group(1))
        proposals = [{"config": {"lr": round(0.004 / (1 + r + 2 * i), 6), "steps": 150, "batch_size": 32},
                      "rationale": f"lr sweep {r}.{i}"} for i in range(n)]
        out = {"proposals": proposals, "stop": False, "reason": ""}
    elif name == "JobSpec":
        config = json.loads(re.search(r"Proposal: (\{.*?\}) —", prompt).group(1))
        wall = float(re.search(r"Time limit per job: ([\d.]+) seconds", prompt).group(1))
        out = {"config": config, "seed": int(re.search(r"seed (\d+)\.", prompt).group(1)), "wall_seconds": wall}
    elif name == "Verdict":
        scored = "status ok" in prompt and "scored by the harness: None" not in prompt  # unscored: no model
        out = {"decision": "accept" if scored else "reject", "reasons": ["read the curve"]}
    else:
        members = re.findall(r"^- (\w+): dev", prompt, re.M)
        out = {"policy": "best", "members": members[:1], "log": "kept the best"}
    return completion_body(json.dumps(out), prompt_tokens=len(prompt) // 4)


def test_team_on_litellm_backend_against_local_server(tmp_path, quick):
    from tests.openai_server import OpenAIServer

    with OpenAIServer(handler=answer_role) as server:
        out = tmp_path / "llm"
        result = start_run(RunOptions(team="pair", model="openai/test-model", api_base=server.url, out=str(out),
                                      budget="wall=40s,job_seconds=80s", **quick))
        assert len(server.requests) >= 3
    _check_run_dir(out, result)
    assert result["backend"] == ["litellm:openai/test-model (0% scripted fallback)"]
    assert result["budget_used"]["tokens"] > 0
    assert result["faults"]["fallbacks"] == 0
    calls = [r for r in read_events(out / "events.jsonl") if r["event"] == "model_call"]
    assert {c["source"] for c in calls} == {"model"} and {c["backend"] for c in calls} == {"litellm"}


def test_each_agent_can_use_its_own_backend_from_yaml(tmp_path, quick):
    from tests.openai_server import OpenAIServer

    with OpenAIServer(handler=answer_role) as server:
        team = tmp_path / "mixed.yaml"
        team.write_text(f"""\
name: mixed
defaults: {{model: scripted}}
agents:
  director: {{role: director, model: openai/planner, api_base: "{server.url}"}}
  engineer: {{role: engineer, replicas: 2}}
  critic: {{role: critic, model: openai/reviewer, api_base: "{server.url}", temperature: 0.1}}
edges:
  - {{from: director, to: engineer}}
  - {{from: engineer, to: critic}}
  - {{from: critic, to: director, max_loops: 2}}
merge: best
stop: {{rounds: 2}}
""")
        out = tmp_path / "mixed"
        result = start_run(RunOptions(team=str(team), out=str(out), budget="wall=40s,job_seconds=80s", **quick))
        models = {r["model"] for r in server.requests}
    _check_run_dir(out, result)
    assert result["backend"] == ["litellm:openai/planner (0% scripted fallback)",
                                 "litellm:openai/reviewer (0% scripted fallback)", "scripted"]
    assert {m.split("/")[-1] for m in models} == {"planner", "reviewer"}
    backends = {r["role"]: r["backend"] for r in read_events(out / "events.jsonl") if r["event"] == "model_call"}
    assert backends == {"director": "litellm", "engineer": "scripted", "critic": "litellm"}


def test_injected_faults_are_survived_and_reported(tmp_path, quick):
    from team import Hooks
    from team.testing import CrashingExecutor, FlakyModel

    flaky: list[FlakyModel] = []
    crashing: list[CrashingExecutor] = []

    def model(name, inner):
        flaky.append(FlakyModel(inner, failure_rate=0.3, seed=len(flaky)))
        return flaky[-1]

    def executor(inner):
        crashing.append(CrashingExecutor(inner, crash_rate=0.3, seed=1))
        return crashing[-1]

    out = tmp_path / "faults"
    result = start_run(RunOptions(team="research", out=str(out), budget="wall=40s,job_seconds=80s", **quick),
                       hooks=Hooks(model=model, executor=executor))
    _check_run_dir(out, result)
    failures = sum(f.failures for f in flaky)
    assert failures > 0 and result["faults"]["model_errors"] == failures
    rows = read_events(out / "events.jsonl")
    assert sum(r["event"] == "model_error" for r in rows) == failures
    crashed = set(crashing[0].crashed)
    assert crashed and {r["job_id"] for r in rows if r["event"] == "job_finished" and r["status"] == "failed"} >= crashed
    assert f"model errors {failures}" in (out / "report.md").read_text()
