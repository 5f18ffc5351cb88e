#!/bin/bash
# The verifier's wall and CPU seconds on one arith-hf model at Inspect batch sizes (max_connections) 64, the
# task's, and 256 (a copy of the task folder), two runs each, alone on the machine (LOG.md 2026-12-03, fifth
# session). Usage: benchmarks/bench_verifier_batch.sh MODEL_DIR   (e.g. a study cell's final_model/)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True
model=${1:?usage: bench_verifier_batch.sh MODEL_DIR}
copy=$(mktemp -d)/arith-hf-256
trap 'rm -rf "$(dirname "$copy")"' EXIT
cp -r tasks/builtin/arith-hf "$copy"
sed -i 's/max_connections: 64/max_connections: 256/' "$copy/task.yaml"
echo "| max_connections | run | test | n | wall (s) | CPU (s) |"
echo "|---|---|---|---|---|---|"
for task in arith-hf "$copy"; do
  batch=$([ "$task" = arith-hf ] && echo 64 || echo 256)
  for run in 1 2; do
    .venv/bin/python -m tasks.verifier --task "$task" --model-dir "$model" 2>/dev/null | python3 -c "
import json, sys
v = json.loads(sys.stdin.read()); s = v['verifier_seconds']
print(f\"| $batch | $run | {v['test_score']:.4f} | {v['n']} | {s['wall']:.1f} | {s['cpu']} |\")"
  done
done
