"""Throughput of the recipe on an `hf` task: a random Llama-style model (default ~85M parameters, built
here, nothing downloaded) fine-tuned on the reverse task; recipe tokens/s vs a bare torch loop.

    python benchmarks/bench_hf.py --seconds 60 [--hidden 768 --layers 12 --batch-size 256]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_model(out: Path, hidden: int, layers: int) -> int:
    import torch
    from tokenizers import Tokenizer, decoders, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    raw = Tokenizer(models.BPE(vocab, merges=[], unk_token="<pad>"))
    raw.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    config = LlamaConfig(vocab_size=128, hidden_size=hidden, intermediate_size=int(hidden * 8 / 3) // 64 * 64,
                         num_hidden_layers=layers, num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64,
                         max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return sum(p.numel() for p in model.parameters())


def make_task(root: Path, base: Path) -> Path:
    task = root / "task"
    src = ROOT / "tasks" / "builtin" / "reverse"
    task.mkdir()
    for name in ("data.py", "evaluate.py"):
        shutil.copy(src / name, task / name)
    text = (src / "task.yaml").read_text().replace("name: reverse", "name: reverse-hf").replace("kind: tiny", "kind: hf")
    text = text.replace("base_model: tinylm-base", f"base_model: {base}").replace("device: cpu", "device: cuda")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("decoy:"))
    (task / "task.yaml").write_text(text.replace("splits: {dev: 256, test: 512", "splits: {dev: 64, test: 128"))
    return task


def run_recipe(prepared, seconds: float, batch: int, method: str, work: Path) -> dict:
    from tasks import recipe_job

    config = {"lr": 1e-3, "steps": 100000, "batch_size": batch, "method": method, "n_train": 50000}
    # The recipe stops at 85% of its wall limit, and loading transformers, CUDA and the data takes ~20-30 s.
    job = recipe_job(prepared, config, wall_seconds=(seconds + 30) / 0.85, gpus=1)
    work.mkdir(parents=True)
    (work / "config.json").write_text(job.files["config.json"])
    env = {**os.environ, "SYNTHTEAM_METRICS": str(work / "metrics.jsonl"), "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(job.command, cwd=work, env=env, capture_output=True, text=True)
    summary = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-3000:], file=sys.stderr)
    return summary


def bare_loop(prepared, seconds: float, batch: int) -> float:
    """The same model, data and batch shapes: forward, loss, backward, AdamW; nothing else."""
    import random

    import torch

    from tasks import training
    from tasks.lm import load_lm
    from tasks.splits import load_generator, make_items

    lm = load_lm(prepared.base_model_dir, "hf")
    if lm.device.type == "cpu":
        torch.set_num_threads(1)  # as the recipe job runs
    items = make_items(load_generator(prepared.task.root), random.Random(0), 50000, 0.5, "train")
    data = training.encode_pairs(lm.encode, [(i["prompt"], i["answer"]) for i in items], lm.eos_id, lm.ctx)
    opt = torch.optim.AdamW(lm.model.parameters(), lr=1e-3, fused=lm.device.type == "cuda")
    gen, tokens, steps = torch.Generator().manual_seed(0), 0, 0
    start = None
    while True:
        if steps == 5:  # warm-up excluded
            torch.cuda.synchronize() if lm.device.type == "cuda" else None
            start, tokens = time.perf_counter(), 0
        if start is not None and time.perf_counter() - start > seconds:
            break
        ids, targets = training._batch(data, torch.randint(len(data.ids), (batch,), generator=gen), lm.device)
        loss = training._loss(lm.model, ids, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps, tokens = steps + 1, tokens + ids.numel()
    torch.cuda.synchronize() if lm.device.type == "cuda" else None
    return tokens / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=40.0, help="training seconds per measured run (3 runs, ~45 s each on top)")
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--methods", default="full,lora", help="recipe runs to measure, comma-separated")
    args = p.parse_args()
    import torch

    from tasks import load_task, prepare_task

    root = Path(tempfile.mkdtemp(prefix="bench-hf-"))
    n_params = make_model(root / "base", args.hidden, args.layers)
    prepared = prepare_task(load_task(make_task(root, root / "base")), root / "cache")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    bare = bare_loop(prepared, args.seconds, args.batch_size)
    print(f"bare loop: {bare:,.0f} tokens/s on {device}", flush=True)
    rows = [("bare torch loop", "full", f"{bare:,.0f}", "", "")]
    for method in args.methods.split(","):
        s = run_recipe(prepared, args.seconds, args.batch_size, method, root / f"run-{method}")
        rows.append(("recipe", method, f"{float(s.get('train_tokens_per_s', 0)):,.0f}", s.get("steps", "?"), s.get("dev_accuracy", "?")))
    print(f"\nhf recipe throughput: {n_params / 1e6:.1f}M params, batch {args.batch_size}, device {device}, torch {torch.__version__}")
    print(f"{'run':<16} {'method':<6} {'tokens/s':>12} {'steps':>7} {'dev_acc':>8}")
    for row in rows:
        print(f"{row[0]:<16} {row[1]:<6} {row[2]:>12} {row[3]:>7} {row[4]:>8}")
    full = float(rows[1][2].replace(",", ""))
    print(f"recipe/bare (full): {full / bare:.1%}")
    print(json.dumps({"params": n_params, "device": device, "bare_tps": bare, "rows": rows}))


if __name__ == "__main__":
    main()
