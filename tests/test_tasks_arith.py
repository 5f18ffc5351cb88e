"""The built-in arith-hf task end to end, offline, on CPU: arith-lm (a small Llama with a BPE tokenizer trained
with `tokenizers`) built and pre-trained at prepare, `synthteam run --task arith-hf` with the solo team (the
hf starter fine-tunes it; the harness scores the job with Inspect AI; the verifier scores the sealed test
split), and every evaluation's .eval log kept in the run folder, the scores read from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks import load_task, prepare_task
from tasks.evallog import find_log, read_log_score
from tests.test_tasks_support import task_cache  # noqa: F401

pytestmark = [pytest.mark.hf, pytest.mark.slow]
pytest.importorskip("transformers")
pytest.importorskip("inspect_ai")


@pytest.fixture(scope="module")
def arith(task_cache):  # noqa: F811
    return prepare_task(load_task("arith-hf"), task_cache)


def test_arith_lm_is_a_hugging_face_model_with_its_own_tokenizer_and_the_tasks_template(arith):
    from transformers import AutoConfig, AutoTokenizer

    from tasks.chat import render

    tok = AutoTokenizer.from_pretrained(str(arith.base_model_dir))
    assert AutoConfig.from_pretrained(str(arith.base_model_dir)).architectures == ["LlamaForCausalLM"]
    assert tok.chat_template == arith.chat_template.read_text() == (arith.visible_dir / "chat_template.jinja").read_text()
    assert tok.convert_ids_to_tokens(tok("4096", add_special_tokens=False).input_ids) == ["4", "0", "9", "6"]
    text = render(tok, "Tom has 3 pens.", tok.chat_template)
    assert text == "<|user|>Tom has 3 pens.\n<|assistant|>" and tok.eos_token == "<|eos|>"
    assert json.loads((arith.base_model_dir / "lineage.json").read_text())["kind"] == "pretrained"
    card = json.loads((arith.visible_dir / "task.json").read_text())
    assert card["evaluator"] == "inspect" and card["scorer"] == "match" and card["pool"]["train"] == 4000


def test_synthteam_run_arith_hf_end_to_end(arith, tmp_path):
    env = {**os.environ, "SYNTHTEAM_CACHE": str(arith.cache_dir)}
    proc = subprocess.run([sys.executable, "-m", "team.cli", "run", "--team", "solo", "--task", "arith-hf",
                           "--budget", "wall=55s", "--job-seconds", "45", "--out", "run", "--quiet"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    result = json.loads((run / "result.json").read_text())
    assert result["task"] == "arith-hf" and result["n"] == 768 and result["flags"] == []
    model_log, base_log = find_log(run / "verify" / "model"), find_log(run / "verify" / "baseline")
    assert model_log is not None and base_log is not None  # `inspect view --log-dir run/verify` opens them
    assert result["test_score"] == read_log_score(model_log)["accuracy"]
    assert result["baseline_score"] == read_log_score(base_log)["accuracy"] < 0.2
    finished = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    trained = [r for r in finished if r.get("event") == "job_finished" and r.get("role") != "harness"
               and r.get("outcome")]
    assert trained and trained[0]["status"] == "ok"
    dev_job = next(r for r in finished if r.get("event") == "job_finished" and r.get("kind") == "dev_eval")
    dev_log = find_log(run / "jobs" / dev_job["job_id"] / "eval")
    assert trained[0]["dev_accuracy"] == read_log_score(dev_log)["accuracy"] and read_log_score(dev_log)["n"] == 64
    own_checks = list((run / "jobs" / trained[0]["job_id"] / "eval").glob("*.eval"))
    assert own_checks  # the job's own dev checks ran the same Inspect evaluation, and left their logs
    assert result["eval_logs"] and model_log.is_relative_to(Path(result["eval_logs"]).parent)
    report = (run / "report.md").read_text()  # the report links every log: the verifier's and each job's
    assert f"({model_log.relative_to(run).as_posix()})" in report and "inspect view --log-dir" in report
    assert f"(jobs/{dev_job['job_id']}/eval/{dev_log.name})" in report


def _readme_block(lang: str, first_line: str) -> str:
    text = (Path(__file__).parent.parent / "tasks" / "README.md").read_text()
    blocks = text.split(f"```{lang}\n")[1:]
    return next(b.split("```", 1)[0] for b in blocks if b.startswith(first_line))


def test_a_jsonl_task_written_from_the_readme_runs_and_its_logs_open(arith, tmp_path):
    """tasks/README.md's 'A task folder with a JSONL benchmark', as printed: the data script, the task.yaml and
    the commands (budgets capped by SYNTHTEAM_BUDGET_CAP); `inspect view` is checked by reading the logs."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    (tmp_path / "mytask").mkdir()
    (tmp_path / "mytask" / "make_data.py").write_text(_readme_block("python", "# mytask/make_data.py"))
    (tmp_path / "mytask" / "task.yaml").write_text(_readme_block("yaml", "# mytask/task.yaml"))
    env = {**os.environ, "SYNTHTEAM_CACHE": str(arith.cache_dir), "SYNTHTEAM_BUDGET_CAP": "40s"}
    bin_dir = Path(sys.executable).parent
    for line in _readme_block("bash", "python mytask/make_data.py").strip().splitlines():
        if line.startswith("inspect view"):
            continue
        command = line.split()
        command[0] = str(bin_dir / command[0]) if command[0] == "synthteam" else sys.executable
        proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{line}: {proc.stderr[-2000:]}"
    result = json.loads((tmp_path / "runs" / "mytask" / "result.json").read_text())
    assert result["n"] == 64 and result["flags"] == []
    logs = list_eval_logs(str(tmp_path / "runs" / "mytask" / "verify"))  # what `inspect view` lists
    assert len(logs) == 2 and {read_eval_log(log).status for log in logs} == {"success"}  # model and baseline
