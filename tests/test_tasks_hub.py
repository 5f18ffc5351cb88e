"""Base models by hub id, resolved offline from a Hugging Face cache this test builds the way the hub client
lays one out (models--org--name/{blobs,snapshots/<commit>,refs/main}, snapshot files linking into blobs/):
found by id and revision, seen read-only by a sandboxed job that loads it offline, and a missing id is one
line naming the id and the cache path, exit 2, before any job starts."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.errors import ConfigError
from tasks import load_task, prepare_task
from tasks.hub import resolve_model
from tasks.spec import BUILTIN_DIR

pytestmark = pytest.mark.hf
pytest.importorskip("transformers")

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


def hub_layout(cache: Path, hub_id: str, model_dir: Path, commit: str, ref: str = "main") -> Path:
    """Put `model_dir`'s files into `cache` as the hub client does: blobs by sha256, a snapshot of links."""
    repo = cache / ("models--" + hub_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for path in sorted(model_dir.iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copyfile(path, repo / "blobs" / digest)
        (snapshot / path.name).symlink_to(Path("../../blobs") / digest)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    return repo


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from tests.test_tasks_hf import make_tiny_llama

    root = tmp_path_factory.mktemp("hub")
    model = make_tiny_llama(root / "model")
    cache = root / "hf" / "hub"
    hub_layout(cache, "tiny-org/tiny-llama", model, COMMIT_A)
    hub_layout(cache, "tiny-org/tiny-llama", model, COMMIT_B, ref="v2")
    return cache


def _task(folder: Path, base_model: str, revision: str | None = None) -> Path:
    folder.mkdir(parents=True)
    for name in ("data.py", "evaluate.py"):
        shutil.copy(BUILTIN_DIR / "reverse" / name, folder / name)
    text = (BUILTIN_DIR / "reverse" / "task.yaml").read_text()
    text = text.replace("name: reverse", "name: reverse-hub").replace("kind: tiny", "kind: hf")
    extra = f"\nrevision: {revision}" if revision else ""
    text = text.replace("base_model: tinylm-base", f"base_model: {base_model}{extra}")
    text = text.replace("decoy: {steps: 400, batch_size: 32, lr: 3.0e-3, seed: 7}", "decoy: {}")
    (folder / "task.yaml").write_text(text.replace("splits: {dev: 256, test: 512", "splits: {dev: 16, test: 32"))
    return folder


def test_a_hub_id_resolves_to_its_snapshot_by_ref_and_commit(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    main = resolve_model("tiny-org/tiny-llama")
    assert main.path.name == COMMIT_A and main.revision == COMMIT_A and main.hub_id == "tiny-org/tiny-llama"
    assert main.mount == (hub / "models--tiny-org--tiny-llama").resolve() and (main.path / "config.json").is_symlink()
    assert resolve_model("tiny-org/tiny-llama", "v2").path.name == COMMIT_B
    assert resolve_model("tiny-org/tiny-llama", COMMIT_B).path.name == COMMIT_B
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(hub.parent))  # HF_HOME/hub is the cache when HF_HUB_CACHE is unset
    assert resolve_model("tiny-org/tiny-llama").path.name == COMMIT_A


def test_a_missing_hub_id_or_revision_is_one_line_naming_the_cache(hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    with pytest.raises(ConfigError) as missing:
        load_task(_task(tmp_path / "a", "Qwen/Qwen3-1.7B-Base"))
    line = str(missing.value)
    assert "\n" not in line and "Qwen/Qwen3-1.7B-Base" in line and str(hub / "models--Qwen--Qwen3-1.7B-Base") in line
    assert line.startswith(f"{tmp_path / 'a' / 'task.yaml'}:")
    with pytest.raises(ConfigError, match="revision 'v9' of tiny-org/tiny-llama is not in the local"):
        load_task(_task(tmp_path / "b", "tiny-org/tiny-llama", "v9"))
    env = {"HF_HUB_CACHE": str(hub), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "team.cli", "validate", str(tmp_path / "a")], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Qwen/Qwen3-1.7B-Base" in proc.stderr


def test_a_job_loads_the_hub_model_read_only_and_offline(hub, monkeypatch, tmp_path):
    """The job reads the repo folder (its snapshot's links point into blobs/), with HF_HUB_OFFLINE=1."""
    import asyncio

    from tasks.solutions import Solution
    from tasks.trial import run_solution

    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    prepared = prepare_task(load_task(_task(tmp_path / "task", "tiny-org/tiny-llama")), tmp_path / "cache")
    assert prepared.base_model_dir.name == COMMIT_A and prepared.read_paths[0].name == "models--tiny-org--tiny-llama"
    program = """import json, os, pathlib, shutil
from transformers import AutoModelForCausalLM
base = pathlib.Path(os.environ["SYNTHTEAM_BASE_MODEL"])
model = AutoModelForCausalLM.from_pretrained(str(base))
try:
    (base / "touched").write_text("x")
    wrote = True
except OSError:
    wrote = False
shutil.copytree(base, "final_model", symlinks=False)
print(json.dumps({"offline": os.environ.get("HF_HUB_OFFLINE"), "wrote": wrote, "params": model.num_parameters()}))
"""
    outcome = asyncio.run(run_solution(prepared, Solution({"train.py": program}), seconds=120, out=tmp_path / "out"))
    assert outcome.status == "ok", outcome.error + outcome.stderr_tail
    row = json.loads((tmp_path / "out" / "stdout.log").read_text().strip().splitlines()[-1])
    assert row["offline"] == "1" and row["params"] > 0
    from sandbox.isolation import find_bwrap

    if find_bwrap():
        assert row["wrote"] is False
    assert outcome.harness_dev is not None and outcome.dev_n == 16  # the harness scored the copy it left
