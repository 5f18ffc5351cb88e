"""The hf kind end to end, offline: a tiny random Llama with a character tokenizer built in the test,
fine-tuned by the recipe (full and LoRA) and scored by the verifier."""

from __future__ import annotations

import json
import shutil

import pytest

from tasks import load_task, prepare_task, recipe_job, verify
from tasks.spec import BUILTIN_DIR
from tests.test_tasks_support import run_plain

pytestmark = pytest.mark.hf
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")


def make_tiny_llama(out):
    from tokenizers import Tokenizer, decoders, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    raw = Tokenizer(models.BPE(vocab, merges=[], unk_token="<pad>"))
    raw.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def hf_task(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    base = make_tiny_llama(root / "base")
    task_dir = root / "task"
    task_dir.mkdir()
    for name in ("data.py", "evaluate.py"):
        shutil.copy(BUILTIN_DIR / "reverse" / name, task_dir / name)
    text = (BUILTIN_DIR / "reverse" / "task.yaml").read_text()
    text = text.replace("name: reverse", "name: reverse-hf").replace("kind: tiny", "kind: hf")
    text = text.replace("base_model: tinylm-base", f"base_model: {base}").replace(
        "decoy: {steps: 400, batch_size: 32, lr: 3.0e-3, seed: 7}", "decoy: {}")
    text = text.replace("splits: {dev: 256, test: 512", "splits: {dev: 32, test: 64")
    (task_dir / "task.yaml").write_text(text)
    task = load_task(task_dir)
    return prepare_task(task, root / "cache")


@pytest.mark.parametrize("method, freeze", [("full", 0), ("lora", 0), ("lora", 1), ("lora", 2)])
def test_hf_recipe_trains_saves_and_verifies(hf_task, tmp_path, method, freeze):
    config = {"lr": 3e-3, "steps": 30, "batch_size": 16, "n_train": 500, "method": method, "lora_rank": 4,
              "freeze_layers": freeze}
    job = recipe_job(hf_task, config, wall_seconds=60)
    proc = run_plain(job, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "status: ok" in proc.stdout and "steps: 30" in proc.stdout
    model = tmp_path / "final_model"
    assert (model / "config.json").is_file() and (model / "lineage.json").is_file()
    assert not (model / "adapter_config.json").exists()  # LoRA merged into plain weights
    losses = [json.loads(line)["train_loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
              if "train_loss" in line]
    assert losses[-1] < losses[0]
    verdict = verify(model, hf_task.task, cache_dir=hf_task.cache_dir)
    assert verdict["flags"] == [] and verdict["n"] == 64 and verdict["raw_score"] is not None


@pytest.mark.parametrize("method, freeze", [("full", 0), ("lora", 0), ("lora", 1), ("lora", 2)])
def test_hf_starter_trains_in_the_sandbox_and_the_harness_scores_it(hf_task, tmp_path, method, freeze):
    import asyncio

    from tasks.solutions import constants, set_constants, starter
    from tasks.trial import run_solution

    solution = starter(hf_task.task)
    assert "from peft import LoraConfig" in solution.files["train.py"] and constants(solution)["METHOD"] == "full"
    solution = set_constants(solution, {"lr": 3e-3, "steps": 30, "batch_size": 16, "n_train": 500,
                                        "method": method, "lora_rank": 4, "DEV_LIMIT": 16,
                                        "FREEZE_LAYERS": freeze})  # LoRA after the frozen layers; 2 of 2: the last
    outcome = asyncio.run(run_solution(hf_task, solution, seconds=120, out=tmp_path / "out"))
    assert outcome.status == "ok" and outcome.harness_dev is not None and outcome.dev_n == 32, outcome.error
    model = tmp_path / "out" / "final_model"
    assert (model / "config.json").is_file() and not (model / "adapter_config.json").exists()
    losses = [r["train_loss"] for r in outcome.metrics if "train_loss" in r]
    assert losses[-1] < losses[0] and "steps: 30" in (tmp_path / "out" / "stdout.log").read_text()
    lineage = json.loads((model / "lineage.json").read_text())
    assert lineage["constants"]["METHOD"] == method and lineage["base_weights"]
    verdict = verify(model, hf_task.task, tmp_path / "out", cache_dir=hf_task.cache_dir)
    assert verdict["flags"] == [] and verdict["raw_score"] is not None
