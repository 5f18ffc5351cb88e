#!/usr/bin/env bash
# The GPU path of a real benchmark, checked on one H100 or H200 in under ten minutes, with no network:
#
#   bash benchmarks/gpu_check.sh            # PYTHON=/path/to/python (default .venv/bin/python, else python3)
#
# 1. prepares arith-hf (arith-lm is built on the CPU, about a minute) and builds a wider Llama (~110M
#    parameters, arith-lm's tokenizer and chat template, random weights: nothing downloaded);
# 2. runs the hf starter on it with `device: cuda` as a team's job would (tasks.trial.run_solution: the
#    sandboxed train.py, then the harness's Inspect evaluation on the GPU), and prints the training
#    tokens/s, the model FLOPs utilisation (6 x parameters x tokens/s over the GPU's bf16 dense peak) and the
#    evaluation's time;
# 3. evaluates the trained model again through `python -m tasks.inspect_eval` with the hf provider and, when
#    vllm is installed, the vllm provider, on the dev split (64 items) and the sealed test split (256).
#
# Needs torch with CUDA, transformers, peft and inspect-ai in that Python (`pip install -e '.[hf,inspect]'`
# with a CUDA torch: `make TORCH_SPEC=torch setup-dev`); it exits 2 with one line when something is missing.
# Record the table it prints in LOG.md. GPU_CHECK_CPU=1 runs the same steps on the CPU with a small model and
# a short job (a dry run of this script where there is no GPU; its numbers mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True
export TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1
WORK=${WORK:-$(mktemp -d /tmp/synthteam-gpu-check-XXXX)}
export SYNTHTEAM_CACHE=${SYNTHTEAM_CACHE:-$WORK/cache} SYNTHTEAM_PREPARE_THREADS=${SYNTHTEAM_PREPARE_THREADS:-4}
TRAIN_SECONDS=${TRAIN_SECONDS:-150}

"$PYTHON" - <<'EOF' || exit 2
import importlib.util, sys
missing = [m for m in ("torch", "transformers", "peft", "inspect_ai") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_check: missing {', '.join(missing)} in {sys.executable} (pip install -e '.[hf,inspect]')")
import torch
import os
if not torch.cuda.is_available() and os.environ.get("GPU_CHECK_CPU") != "1":
    sys.exit(f"gpu_check: torch {torch.__version__} sees no CUDA device")
device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (dry run)"
print(f"gpu_check: {device}, torch {torch.__version__}, "
      f"vllm {'installed' if importlib.util.find_spec('vllm') else 'not installed'}")
EOF

WORK="$WORK" TRAIN_SECONDS="$TRAIN_SECONDS" "$PYTHON" - <<'EOF'
import asyncio, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from tasks import load_task, prepare_task
from tasks.solutions import set_constants, starter
from tasks.spec import BUILTIN_DIR
from tasks.trial import run_solution

work, seconds = Path(os.environ["WORK"]), float(os.environ["TRAIN_SECONDS"])
dry = os.environ.get("GPU_CHECK_CPU") == "1"  # the same steps on the CPU, small and short
device, gpus = ("cpu", 0) if dry else ("cuda:0", 1)
PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # bf16 dense FLOP/s
name = "CPU (dry run)" if dry else torch.cuda.get_device_name()
peak = next((v for k, v in PEAK.items() if k in name), None)

arith = prepare_task(load_task("arith-hf"))
base = work / "wide-llama"
tok = AutoTokenizer.from_pretrained(str(arith.base_model_dir))
width, depth = (128, 2) if dry else (768, 12)
config = LlamaConfig(vocab_size=len(tok), hidden_size=width, intermediate_size=width * 8 // 3 // 64 * 64,
                     num_hidden_layers=depth, num_attention_heads=width // 64, num_key_value_heads=width // 64,
                     max_position_embeddings=512,
                     tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
torch.manual_seed(0)
model = LlamaForCausalLM(config)
params = sum(p.numel() for p in model.parameters())
model.generation_config.eos_token_id, model.generation_config.pad_token_id = tok.eos_token_id, tok.pad_token_id
model.save_pretrained(str(base))
tok.save_pretrained(str(base))
task_dir = work / "arith-gpu"
shutil.copytree(BUILTIN_DIR / "arith-hf", task_dir)
text = (task_dir / "task.yaml").read_text().replace("name: arith-hf", "name: arith-gpu")
text = text.replace("base_model: arith-lm", f"base_model: {base}")
text = text if dry else text.replace("device: cpu", "device: cuda")
(task_dir / "task.yaml").write_text(text.replace("max_connections: 64", "max_connections: 128"))
prepared = prepare_task(load_task(task_dir))
solution = set_constants(starter(prepared.task), {"lr": 1e-3, "batch_size": 32 if dry else 256, "steps": 100000,
                                                 "EVALS": 2})
started = time.perf_counter()
outcome = asyncio.run(run_solution(prepared, solution, seconds=seconds, out=work / "job", gpus=gpus, eval_seconds=600))
print(f"starter job: {outcome.status} in {time.perf_counter() - started:.0f} s, harness dev {outcome.harness_dev} "
      f"(n={outcome.dev_n}) {outcome.error}", flush=True)
stdout = (work / "job" / "stdout.log").read_text()
summary = dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)
tps = float(summary.get("train_tokens_per_s", 0) or 0)
dev_eval = json.loads((work / "job.dev_eval" / "dev_eval.json").read_text())

rows = [("hf starter, full fine-tune, bf16 autocast", f"{tps:,.0f} tok/s",
         f"MFU {6 * params * tps / peak:.1%}" if peak and not dry else "MFU ? (no known peak)",
         f"steps {summary.get('steps')}"),
        ("harness dev evaluation (Inspect, hf, GPU)", f"eval {dev_eval['eval_seconds']:.1f} s",
         f"imports {dev_eval['import_seconds']:.1f} s", f"acc {dev_eval['accuracy']:.3f} n={dev_eval['n']}")]
model_dir = work / "job" / "final_model"
providers = ["hf"] + (["vllm"] if __import__("importlib").util.find_spec("vllm") else [])
for provider in providers:
    for split, items in (("dev", prepared.dev_path), ("test", prepared.test_path)):
        out = work / f"{provider}-{split}.json"
        cmd = [sys.executable, "-m", "tasks.inspect_eval", "--spec", str(prepared.visible_dir / "benchmark.json"),
               "--model-path", str(model_dir), "--items", str(items), "--log-dir", str(work / "eval" / provider),
               "--json-output-file", str(out), "--provider", provider, "--device", device]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append((f"Inspect {provider} on {split}", "FAILED", proc.stderr.strip().splitlines()[-1:][0][:80], ""))
            continue
        r = json.loads(out.read_text())
        rows.append((f"Inspect {provider} on {split} ({r['n']} items)", f"eval {r['eval_seconds']:.1f} s",
                     f"imports {r['import_seconds']:.1f} s", f"acc {r['accuracy']:.3f}"))
print(f"\n{name}, {params / 1e6:.1f}M-parameter Llama (arith-lm's tokenizer), torch {torch.__version__}\n")
print("| what | speed | | |\n|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(row) + " |")
print(f"\nlogs: {work / 'eval'}, {work / 'job.dev_eval' / 'eval'} (inspect view --log-dir ...)")
EOF
