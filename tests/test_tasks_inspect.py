"""Benchmarks as Inspect AI evaluations: a task folder with a JSONL dataset, a chat template and a scorer file,
scored through inspect_ai.eval in the sandbox (a tiny Llama built in the test, offline). The split is sealed
by the cache's salt; the harness's dev score and the verifier's test score are read from the .eval logs,
which are kept; bad input is one line and exit 2 before anything runs; validating never imports Inspect."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.errors import ConfigError
from tasks import load_task, prepare_task

pytestmark = pytest.mark.hf
pytest.importorskip("transformers")
pytest.importorskip("inspect_ai")

TEMPLATE = "{% for m in messages %}Q: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}A:{% endif %}"
SCORER = '''from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer, stderr


@scorer(metrics=[accuracy(), stderr()])
def even_target():
    """Right when the target is even, whatever the model wrote: a score the test can compute."""
    async def score(state, target: Target) -> Score:
        return Score(value=CORRECT if int(target.text) % 2 == 0 else INCORRECT, answer=state.output.completion)
    return score
'''
TASK_YAML = """name: sums
description: Add two numbers.
kind: hf
base_model: {base}
benchmark:
  name: sums (JSONL, Inspect)
  dataset: problems.jsonl
  fields: {{input: question, target: answer, id: id}}
  scorer: {scorer}
  train: {{file: train.jsonl}}
evaluation: {{max_connections: 16}}
chat_template: templates/qa.jinja
max_new_tokens: 4
splits: {{dev: 24, test: 48}}
knobs:
  lr: {{kind: float, low: 1.0e-5, high: 0.1, log: true, default: 1.0e-3}}
"""


def write_sums_task(folder: Path, base: Path, scorer: str = "scoring.py@even_target") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"q{i}", "question": f"What is {i} plus {i % 7}?", "answer": str(i + i % 7)} for i in range(120)]
    (folder / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    extra = [{"question": f"What is {i} minus 1?", "answer": str(i - 1)} for i in range(200, 230)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, *extra]))
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "qa.jinja").write_text(TEMPLATE)
    (folder / "scoring.py").write_text(SCORER)
    (folder / "task.yaml").write_text(TASK_YAML.format(base=base, scorer=scorer))
    return folder


def even_share(items) -> float:
    return sum(int(i["answer"]) % 2 == 0 for i in items) / len(items)


@pytest.fixture(scope="module")
def sums(tmp_path_factory):
    from tests.test_tasks_hf import make_tiny_llama

    root = tmp_path_factory.mktemp("inspect")
    base = make_tiny_llama(root / "base")
    task = load_task(write_sums_task(root / "task", base))
    return prepare_task(task, root / "cache")


def _run(job, root: Path):
    from sandbox import LocalExecutor

    async def go():
        executor = LocalExecutor(root)
        return await executor.wait(await executor.submit(job))

    return asyncio.run(go())


def test_scorers_and_the_choice_template_are_inspects_own():
    import inspect_ai.scorer as scorers
    from inspect_ai.solver._multiple_choice import SINGLE_ANSWER_TEMPLATE

    from tasks.benchmark import SCORER_ARGS
    from tasks.chat import MC_TEMPLATE

    for name, args in SCORER_ARGS.items():
        params = set(inspect.signature(getattr(scorers, name)).parameters) - {"answer_fn"}
        assert set(args) == params, name
    assert MC_TEMPLATE == SINGLE_ANSWER_TEMPLATE


def test_loading_and_validating_never_import_inspect_or_torch(tmp_path):
    folder = write_sums_task(tmp_path / "t", tmp_path)  # any directory with a config.json will do as a base
    (tmp_path / "config.json").write_text("{}")
    code = ("import sys; from tasks import load_task; t = load_task(sys.argv[1]); "
            "print(t.evaluator, 'inspect_ai' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["inspect", "False", "False"]


BAD = [
    ("problems.jsonl", lambda t: t.replace('"answer"', '"solution"', 1), "problems.jsonl:1: missing field 'answer'"),
    ("task.yaml", lambda t: t.replace("scoring.py@even_target", "fuzzy"), "unknown scorer 'fuzzy'"),
    ("task.yaml", lambda t: t.replace("scoring.py@even_target", "scoring.py@odd_target"),
     "scoring.py defines no function odd_target()"),
    ("task.yaml", lambda t: t.replace("  scorer: scoring.py@even_target", "  scorer: match\n  scorer_args: {digits: 2}"),
     "match() takes no argument 'digits'"),
    ("task.yaml", lambda t: t.replace("  dataset: problems.jsonl", "  task: inspect_evals_nowhere/gsm8k"),
     "needs the package inspect_evals_nowhere, which is not installed"),
    ("templates/qa.jinja", lambda t: t.replace("{% endfor %}", ""), "qa.jinja:2: the chat template does not parse"),
    ("templates/qa.jinja", lambda t: "{{ messages[0]['content'] | nofilter }}", "the chat template does not parse"),
    ("task.yaml", lambda t: t.replace("dev: 24, test: 48", "dev: 100, test: 48"), "splits ask for dev 100 + test 48"),
]


@pytest.mark.parametrize("name,edit,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_benchmarks_fail_in_one_line_before_anything_runs(tmp_path, name, edit, message):
    folder = write_sums_task(tmp_path / "t", tmp_path)
    (tmp_path / "config.json").write_text("{}")
    load_task(folder)  # the folder as written is fine
    path = folder / name
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_task(folder)
    proc = subprocess.run([sys.executable, "-m", "team.cli", "validate", str(folder)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and not proc.stdout, proc.stderr


def test_the_split_is_sealed_by_the_salt(sums, tmp_path, monkeypatch):
    from tasks.splits import read_jsonl

    dev, test = read_jsonl(sums.dev_path), read_jsonl(sums.test_path)
    pool = read_jsonl(sums.train_path)
    assert len(dev) == 24 and len(test) == 48 and not {i["id"] for i in dev} & {i["id"] for i in test}
    prompts = {i["prompt"] for i in test}
    assert not prompts & {i["prompt"] for i in pool} and len(pool) == 150 - 48  # test questions left the pool
    assert all(p not in (sums.visible_dir / name).read_text() for name in ("dev.jsonl", "train.jsonl") for p in prompts)
    monkeypatch.setenv("SYNTHTEAM_TEST_SALT", "another salt")
    other = prepare_task(sums.task, tmp_path / "other-cache")
    assert {i["id"] for i in read_jsonl(other.test_path)} != {i["id"] for i in test}
    card = json.loads((sums.visible_dir / "task.json").read_text())
    assert card["evaluator"] == "inspect" and card["chat_template"] == "chat_template.jinja" and card["sealed"]


def test_the_harness_dev_score_is_read_from_the_inspect_log(sums, tmp_path):
    from inspect_ai.log import read_eval_log

    from tasks.jobs import dev_eval_job, read_dev_score
    from tasks.splits import read_jsonl

    result = _run(dev_eval_job(sums, sums.base_model_dir, wall_seconds=300), tmp_path)
    assert result.ok, result.stderr_tail
    logs = list((Path(result.workdir) / "eval").glob("*.eval"))
    assert len(logs) == 1
    log = read_eval_log(str(logs[0]))  # what `inspect view` opens
    dev = read_jsonl(sums.dev_path)
    assert log.status == "success" and len(log.samples) == 24 and log.eval.model == "hf/local"
    assert log.samples[0].input == next(i["prompt"] for i in dev if i["id"] == log.samples[0].id)
    (Path(result.workdir) / "dev_eval.json").write_text('{"accuracy": 0.99, "n": 24}')  # what a job might print
    assert read_dev_score(result) == (pytest.approx(even_share(dev)), 24)


def test_the_verifier_scores_the_sealed_split_keeps_its_logs_and_scans_for_dataset_items(sums, tmp_path):
    from tasks import verify
    from tasks.splits import read_jsonl

    test = read_jsonl(sums.test_path)
    workspace = tmp_path / "jobs"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("\n".join(f"Q: {i['prompt']} A: {i['answer']}" for i in test[:6]))
    verdict = verify(sums.base_model_dir, sums.task, workspace, cache_dir=sums.cache_dir, log_dir=tmp_path / "logs")
    assert verdict["n"] == 48 and verdict["baseline_score"] == pytest.approx(even_share(test))
    assert [f["flag"] for f in verdict["flags"]] == ["contamination"] and "notes.txt (6)" in verdict["flags"][0]["reason"]
    assert verdict["raw_score"] == pytest.approx(even_share(test)) and verdict["eval_logs"] == str(tmp_path / "logs")
    assert len(list((tmp_path / "logs" / "model").glob("*.eval"))) == 1
    assert len(list((tmp_path / "logs" / "baseline").glob("*.eval"))) == 1


TASK_FILE = '''import os

from inspect_ai import Task, task
from inspect_ai.dataset import FieldSpec, json_dataset
from inspect_ai.solver import generate

from scoring import even_target


@task
def sums(offset: int = 0):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "items.jsonl")
    return Task(dataset=json_dataset(path, FieldSpec(input="question", target="answer", id="id")),
                solver=[generate()], scorer=even_target())
'''


def test_an_inspect_task_in_the_folder_scores_its_own_items_with_a_limit(tmp_path):
    """benchmark.task: FILE.py@NAME (with the files it reads): dev is a --limit of the task's own items, the
    score its own scorer's (the verifier's run of all of them, and its advisory flag: test_tasks_ptb.py)."""
    from tasks.jobs import dev_eval_job, read_dev_score
    from tests.test_tasks_hf import make_tiny_llama

    folder = write_sums_task(tmp_path / "t", make_tiny_llama(tmp_path / "base"))
    (folder / "evals.py").write_text(TASK_FILE)
    rows = [{"id": f"x{i}", "question": f"What is {i} plus 1?", "answer": str(i + 1)} for i in range(10)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = (folder / "task.yaml").read_text().replace("  dataset: problems.jsonl\n", "  task: evals.py@sums\n")
    text = text.replace("  scorer: scoring.py@even_target\n", "  files: [items.jsonl, scoring.py]\n")
    (folder / "task.yaml").write_text(text.replace("max_connections: 16}", "max_connections: 16, dev_limit: 4}"))
    prepared = prepare_task(load_task(folder), tmp_path / "cache")
    result = _run(dev_eval_job(prepared, prepared.base_model_dir, wall_seconds=300), tmp_path / "jobs")
    assert result.ok, result.stderr_tail
    assert read_dev_score(result) == (0.5, 4)  # the first 4 items: answers 1, 2, 3, 4
    assert not json.loads((prepared.visible_dir / "task.json").read_text())["sealed"]


def _installed_registry_package(site: Path) -> None:
    """A package `tiny_evals` installed in `site` with Inspect's entry point (as inspect_evals is)."""
    package = site / "tiny_evals"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(TASK_FILE.replace("from scoring import", "from tiny_evals.scoring import"))
    (package / "scoring.py").write_text(SCORER)
    rows = [{"id": f"x{i}", "question": f"What is {i} plus 1?", "answer": str(i + 1)} for i in range(10)]
    (package / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = site / "tiny_evals-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-evals\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[inspect_ai]\ntiny_evals = tiny_evals\n")
    (info / "top_level.txt").write_text("tiny_evals\n")


def test_a_registry_task_resolves_by_name_through_inspects_registry(tmp_path, monkeypatch):
    """benchmark.task: PACKAGE/NAME of an installed package: the job's evaluate.py (PostTrainBench's command
    line) runs it by name."""
    from tests.test_tasks_hf import make_tiny_llama

    base = make_tiny_llama(tmp_path / "base")
    folder = write_sums_task(tmp_path / "t", base)
    text = (folder / "task.yaml").read_text().replace("  dataset: problems.jsonl\n", "  task: tiny_evals/sums\n")
    (folder / "task.yaml").write_text(text.replace("  scorer: scoring.py@even_target\n", ""))
    with pytest.raises(ConfigError, match="needs the package tiny_evals, which is not installed"):
        load_task(folder)
    site = tmp_path / "lib" / "site-packages"  # Inspect names a task after its package when it is installed
    _installed_registry_package(site)
    monkeypatch.syspath_prepend(str(site))
    prepared = prepare_task(load_task(folder), tmp_path / "cache")
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(prepared.visible_dir / "evaluate.py"), "--model-path", str(base),
                           "--limit", "4", "--json-output-file", "out.json", "--log-dir", "logs"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads((tmp_path / "out.json").read_text())
    assert (row["accuracy"], row["n"]) == (0.5, 4) and Path(row["log"]).parent == tmp_path / "logs"


def test_provider_vllm_without_vllm_is_one_line_before_any_job(sums, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    monkeypatch.setenv("SYNTHTEAM_PROVIDER", "vllm")  # what --provider vllm sets
    task = load_task(sums.task.root)
    assert task.provider == "vllm" and load_task(sums.task.root, provider="hf").provider == "hf"
    with pytest.raises(ConfigError, match="provider vllm: vllm is not installed here"):
        prepare_task(task, sums.cache_dir)


def test_samples_get_their_replies_when_generated_not_by_polling_each_second(sums, tmp_path, monkeypatch):
    """Inspect's hf provider lets each waiting sample look at its reply once a second (an evaluation on a CPU
    waited about as long as it computed); `evaluate` awaits the reply instead. Same completions, no poll."""
    import inspect_ai.model._providers.hf as hf
    from inspect_ai.log import read_eval_log

    import tasks.inspect_eval as ie
    from tasks.splits import read_jsonl

    naps: list[float] = []

    class Anyio:  # the provider's `anyio`, counting its naps
        def __getattr__(self, name):
            return getattr(__import__("anyio"), name)

        async def sleep(self, delay):
            naps.append(delay)
            await __import__("anyio").sleep(delay)

    monkeypatch.setattr(hf, "anyio", Anyio())
    stock = getattr(hf.batched_generate, "_polling", hf.batched_generate)
    items = [{"prompt": i["prompt"], "answer": i["answer"]} for i in read_jsonl(sums.dev_path)]
    spec = Path(sums.visible_dir) / "benchmark.json"

    def completions(log_dir: Path) -> list[str]:
        out = ie.evaluate_items(spec, sums.base_model_dir, items, log_dir, device="cpu")
        log = read_eval_log(out["log"])
        return [s.output.completion for s in sorted(log.samples, key=lambda s: int(s.id))]

    monkeypatch.setattr(hf, "batched_generate", stock)
    monkeypatch.setattr(ie, "_replies_without_polling", lambda: None)
    polled = completions(tmp_path / "stock")
    assert naps, "the provider's own path no longer polls: this workaround can go"
    naps.clear()
    monkeypatch.undo()  # the provider and evaluate as they are, then count again
    monkeypatch.setattr(hf, "anyio", Anyio())
    assert completions(tmp_path / "awaited") == polled
    assert naps == []
    assert getattr(hf.batched_generate, "_synthteam", False)
