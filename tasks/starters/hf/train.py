"""Fine-tune a Hugging Face causal LM (transformers, peft) and leave the best checkpoint in final_model/
(a synthteam solution for `kind: hf` tasks; bf16 autocast on CUDA, LoRA adapters merged on save).

Edit anything: the constants, the data, the batches, the loss, the schedule, the loop. The harness runs
`python train.py` in a sandbox with the inputs below in the environment, re-scores final_model/ on the
dev split with its own evaluation, and never trusts the numbers printed here.

    SYNTHTEAM_VISIBLE      the task's visible folder: train.jsonl (the training pool), dev.jsonl,
                           task.json (the task card), evaluate.py (the scorer; for a task scored by
                           Inspect AI also benchmark.json and the chat template every evaluation applies)
    SYNTHTEAM_BASE_MODEL   the base model directory (read-only)
    SYNTHTEAM_WALL_SECONDS the job's time limit (the program stops training at STOP_AT of it), in seconds
                           of SYNTHTEAM_CLOCK: wall (the default) or cpu (this process's CPU time, which
                           the harness limits by the job's cgroup: the same compute beside busy neighbours)
    SYNTHTEAM_HORIZON      when set, the job's horizon in training tokens: the schedule and the checkpoint
                           evaluations follow steps and tokens only, so one config and seed give one model
                           whatever else runs on the machine (the time limit then only stops a job that is
                           too slow); unset, progress is the larger of steps done and time used
    SYNTHTEAM_THREADS      CPU threads; SYNTHTEAM_DEVICE: cpu or cuda
    SYNTHTEAM_METRICS      where metric rows go, one JSON object per line
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# ---- constants: the task's knobs (synthteam's set_constants edits these) ----------------------------
LR = 0.001
SCHEDULE = "cosine"
WARMUP_FRAC = 0.05
STEPS = 2000
BATCH_SIZE = 64
WEIGHT_DECAY = 0.0
METHOD = "full"
LORA_RANK = 8
FREEZE_LAYERS = 0
N_TRAIN = 20000
HARD_FRAC = 0.5
REPLAY_FRAC = 0.0
SEED = 0

# ---- constants of this program -----------------------------------------------------------------------
EVALS = 6  # evaluations spread over the run, plus one at the end
DEV_LIMIT = 128  # items scored at each evaluation
GRAD_CLIP = 1.0
LOG_EVERY = 10
STOP_AT = 0.85  # share of the wall limit after which training stops (the rest is for saving)

# ---- inputs, set by the harness ----------------------------------------------------------------------
VISIBLE = Path(os.environ.get("SYNTHTEAM_VISIBLE", "visible"))
BASE_MODEL = Path(os.environ.get("SYNTHTEAM_BASE_MODEL", "base_model"))
WALL_SECONDS = float(os.environ.get("SYNTHTEAM_WALL_SECONDS", "60"))
CLOCK = time.process_time if os.environ.get("SYNTHTEAM_CLOCK") == "cpu" else time.perf_counter
JOB_TOKENS = int(os.environ.get("SYNTHTEAM_HORIZON") or 0)  # 0: no horizon in work
THREADS = int(os.environ.get("SYNTHTEAM_THREADS", "1"))
DEVICE = os.environ.get("SYNTHTEAM_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
METRICS = Path(os.environ.get("SYNTHTEAM_METRICS", "metrics.jsonl"))
OUT = Path("final_model")
IGNORE = -100  # target of tokens without loss (the prompt, padding)


def process_start() -> float:
    """CLOCK() at this process's start: the harness's clock starts then."""
    if CLOCK is time.process_time:
        return 0.0  # CPU time counts from the process's start
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.perf_counter() - max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


def log(row: dict) -> None:
    with open(METRICS, "a") as fh:
        fh.write(json.dumps(row) + "\n")


# ---- data ----------------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def choose_items(pool: list[dict], rng: random.Random) -> list[dict]:
    """N_TRAIN items of the pool, a HARD_FRAC share of them hard (the other kind fills a shortfall)."""
    easy = [i for i in pool if not i.get("hard")]
    hard = [i for i in pool if i.get("hard")]
    rng.shuffle(easy)
    rng.shuffle(hard)
    n = min(N_TRAIN, len(pool))
    n_hard = min(round(n * HARD_FRAC), len(hard))
    n_easy = min(n - n_hard, len(easy))
    items = hard[: n - n_easy] + easy[:n_easy]
    rng.shuffle(items)
    return items


def pad_rows(rows: list[tuple[list[int], list[int]]]) -> dict:
    """Right-padded token rows, their targets (IGNORE: no loss) and lengths."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (row, tgt) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        targets[i, : len(tgt)] = torch.tensor(tgt)
    return {"ids": ids, "targets": targets, "lengths": torch.tensor([len(r) for r, _ in rows])}


def encode_items(lm, items: list[dict]) -> dict:
    """Prompt + answer + EOS per row; the loss only on the answer and EOS. The prompt is what the task's
    evaluation shows the model (`lm.prompt_of`: the chat-rendered message when Inspect scores the task)."""
    rows = []
    for item in items:
        p, a = lm.encode(lm.prompt_of(item)), lm.encode(item["answer"]) + [lm.eos_id]
        rows.append(((p + a)[: lm.ctx], ([IGNORE] * (len(p) - 1) + a + [IGNORE])[: lm.ctx]))
    return pad_rows(rows)


def replay_rows(lm, rng: random.Random, n: int, width: int) -> dict:
    """`n` rows of the base model's pre-training text (language-model loss on every token)."""
    from tasks.corpus import pretraining_ids

    ids = pretraining_ids(BASE_MODEL, lm.encode, rng, n * width + 1)
    return pad_rows([(ids[i : i + width], ids[i + 1 : i + width + 1]) for i in range(0, n * width, width)])


def concat_rows(a: dict, b: dict) -> dict:
    width = max(a["ids"].shape[1], b["ids"].shape[1])

    def widen(x, fill):
        return F.pad(x, (0, width - x.shape[1]), value=fill)

    return {"ids": torch.cat([widen(a["ids"], 0), widen(b["ids"], 0)]),
            "targets": torch.cat([widen(a["targets"], IGNORE), widen(b["targets"], IGNORE)]),
            "lengths": torch.cat([a["lengths"], b["lengths"]])}


def load_data(lm, items: list[dict], rng: random.Random) -> dict:
    """The training rows: the chosen items, plus REPLAY_FRAC of pre-training text rows mixed in."""
    data = encode_items(lm, items)
    n_replay = int(round(REPLAY_FRAC / (1.0 - REPLAY_FRAC) * len(items)))
    if n_replay:
        data = concat_rows(data, replay_rows(lm, rng, n_replay, data["ids"].shape[1] + 8))
    return data


def selection_items(pool: list[dict], items: list[dict], dev: list[dict], rng: random.Random):
    """What the best checkpoint is chosen on: (name, items). Here: the first DEV_LIMIT dev items."""
    return "dev", dev[:DEV_LIMIT]


# ---- batches, loss, schedule ---------------------------------------------------------------------------
def next_batch(data: dict, step: int, progress: float, gen: torch.Generator, memory: dict):
    """BATCH_SIZE random rows, cut to the longest of them, on the model's device."""
    index = torch.randint(len(data["ids"]), (BATCH_SIZE,), generator=gen)
    width = int(data["lengths"][index].max())
    return data["ids"][index, :width].to(DEVICE), data["targets"][index, :width].to(DEVICE)


def loss_fn(model, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the tokens with a target (the answers)."""
    logits = model(ids)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE)


def extra_loss(lm, data: dict, step: int, gen: torch.Generator, memory: dict):
    """A second loss term added to the batch's (None: nothing)."""
    return None


def lr_at(progress: float) -> float:
    """The learning rate's factor at `progress` (0..1): linear warmup, then SCHEDULE."""
    if WARMUP_FRAC > 0 and progress < WARMUP_FRAC:
        return max(progress / WARMUP_FRAC, 1e-3)
    rest = min(1.0, (progress - WARMUP_FRAC) / max(1e-9, 1.0 - WARMUP_FRAC))
    if SCHEDULE == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * rest))
    if SCHEDULE == "linear":
        return 1.0 - rest
    return 1.0


def make_optimizer(model) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    fused = params[0].device.type == "cuda" if params else False
    return torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.98), fused=fused or None)


def adapt(lm) -> None:
    """Full fine-tuning, or peft LoRA adapters on every linear layer (merged into plain weights when
    saved), with the embeddings and the first FREEZE_LAYERS layers frozen."""
    import re

    layer = re.compile(r"\.(?:layers|h|blocks)\.(\d+)\.")  # a decoder layer's parameters: model.layers.3.*
    inner = lm.model.inner
    if METHOD == "lora":
        from peft import LoraConfig, get_peft_model

        n_layers = int(getattr(inner.config, "num_hidden_layers", 0) or 0)
        # adapters on the layers after the frozen ones, and on the last layer at least (freezing every layer
        # would leave LoRA nothing to train)
        layers = list(range(min(FREEZE_LAYERS, n_layers - 1), n_layers)) if FREEZE_LAYERS and n_layers else None
        # peft takes layers_to_transform only with the modules named (not "all-linear"): the layers' linears
        targets = sorted({name.rsplit(".", 1)[-1] for name, module in inner.named_modules()
                          if isinstance(module, torch.nn.Linear) and layer.search(name)})
        config = LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.0,
                            target_modules=targets if layers else "all-linear", layers_to_transform=layers)
        lm.model.inner = get_peft_model(inner, config)
        return
    if FREEZE_LAYERS > 0:
        inner.get_input_embeddings().weight.requires_grad_(False)
        for name, param in inner.named_parameters():
            match = layer.search(name)
            if match and int(match.group(1)) < FREEZE_LAYERS:
                param.requires_grad_(False)


# ---- checkpoints and evaluation ------------------------------------------------------------------------
def after_step(model, step: int, progress: float, memory: dict) -> None:
    """Called after every optimizer step; `memory` lives through the run (nothing kept here)."""


def candidate(model, memory: dict) -> dict:
    """The weights an evaluation scores and may keep as the best: here, the current ones."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def evaluate(lm, state: dict, items: list[dict], score, max_new_tokens: int) -> float:
    """Accuracy of `state` on `items` (greedy decoding, the task's scorer); the model's own weights
    are put back afterwards."""
    from tasks.evaluation import score_items

    own = {k: v.detach().clone() for k, v in lm.model.state_dict().items()}
    lm.model.load_state_dict(state)
    lm.model.eval()
    with torch.no_grad():
        correct = score_items(lm, items, score, max_new_tokens)
    lm.model.load_state_dict(own)
    lm.model.train()
    return sum(correct) / max(len(correct), 1)


# ---- the training loop ---------------------------------------------------------------------------------
def train(lm, data: dict, select: tuple, score, card: dict, deadline: float) -> dict:
    """Train until STEPS, JOB_TOKENS (when set) or the deadline, whichever comes first. Progress (the
    schedule, the EVALS evaluations) is the largest of the fractions done, time included only when there
    is no JOB_TOKENS horizon. Evaluate EVALS times and at the end; keep the best-scoring weights."""
    name, checks = select
    model, opt, memory = lm.model, make_optimizer(lm.model), {}
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(SEED)
    run = {"step": 0, "tokens": 0, "best": -1.0, "best_step": 0, "best_state": None, "stopped": "steps"}
    start, next_eval, last_eval, train_seconds = CLOCK(), 1, 0.0, 0.0
    seconds = max(deadline - start, 0.5)
    model.train()
    while True:
        used = (CLOCK() - start + 1.5 * last_eval) / seconds
        work = run["tokens"] / JOB_TOKENS if JOB_TOKENS else used
        progress = max(run["step"] / STEPS, work)
        if progress >= 1.0 or used >= 1.0:
            run["stopped"] = "steps" if run["step"] >= STEPS else "tokens" if JOB_TOKENS and work >= 1.0 else "time_limit"
            break
        tick = CLOCK()
        for group in opt.param_groups:
            group["lr"] = LR * lr_at(progress)
        ids, targets = next_batch(data, run["step"], progress, gen, memory)
        loss = loss_fn(model, ids, targets)
        extra = extra_loss(lm, data, run["step"], gen, memory)
        total = loss if extra is None else loss + extra
        opt.zero_grad(set_to_none=True)
        total.backward()
        if GRAD_CLIP:
            torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()
        run["step"] += 1
        run["tokens"] += ids.numel()
        after_step(model, run["step"], progress, memory)
        train_seconds += CLOCK() - tick
        if run["step"] % LOG_EVERY == 0 or run["step"] == 1:
            value = loss.item()
            log({"step": run["step"], "train_loss": round(value, 5), "lr": opt.param_groups[0]["lr"],
                 "tokens": run["tokens"]})
            if not math.isfinite(value):
                run["stopped"] = "nan"
                break
        if progress * EVALS >= next_eval:
            next_eval = math.floor(progress * EVALS) + 1
            last_eval = checkpoint(lm, run, memory, name, checks, score, card)
    if run["stopped"] != "nan" and run["best_step"] != run["step"]:
        checkpoint(lm, run, memory, name, checks, score, card)
    run["train_seconds"] = train_seconds
    return run


def checkpoint(lm, run: dict, memory: dict, name: str, checks: list[dict], score, card: dict) -> float:
    """Score the candidate weights; keep them when they score at least the best so far (a tie goes to the
    later, longer-trained weights). Returns the seconds taken."""
    tick = CLOCK()
    state = candidate(lm.model, memory)
    value = evaluate(lm, state, checks, score, card["max_new_tokens"])
    took = CLOCK() - tick
    log({"step": run["step"], f"{name}_accuracy": round(value, 5), f"{name}_n": len(checks),
         "eval_seconds": round(took, 3)})
    if value >= run["best"]:
        run["best"], run["best_step"], run["best_state"] = value, run["step"], state
    return took


# ---- saving --------------------------------------------------------------------------------------------
def weights_digest(model_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(model_dir.iterdir()):
        if path.suffix in (".pt", ".safetensors", ".bin"):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def save(lm, run: dict, card: dict) -> None:
    lm.model.load_state_dict(run["best_state"])
    constants = {k: v for k, v in globals().items() if k.isupper() and isinstance(v, (int, float, str, bool))}
    lineage = {"kind": "finetune", "task": card["name"], "base_model": str(BASE_MODEL.resolve()),
               "base_weights": weights_digest(BASE_MODEL), "solution": "train.py", "constants": constants,
               "best_step": run["best_step"]}
    lm.save(OUT, lineage)


def main() -> int:
    started = process_start()
    torch.set_num_threads(max(1, THREADS))
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.manual_seed(SEED)
    from tasks.chat import use_task_format
    from tasks.evaluation import load_score
    from tasks.lm import load_lm

    card = json.loads((VISIBLE / "task.json").read_text())
    rng = random.Random(SEED)
    lm = load_lm(BASE_MODEL, card["kind"], DEVICE)
    use_task_format(lm, VISIBLE, card)
    adapt(lm)
    pool, dev = read_jsonl(VISIBLE / "train.jsonl"), read_jsonl(VISIBLE / "dev.jsonl")
    items = choose_items(pool, rng)
    data = load_data(lm, items, rng)
    select = selection_items(pool, items, dev, rng)
    score = load_score(VISIBLE / "evaluate.py")
    deadline = started + WALL_SECONDS * STOP_AT - max(1.0, 0.03 * WALL_SECONDS)
    run = train(lm, data, select, score, card, deadline)
    if run["best_state"] is not None:
        save(lm, run, card)
    return report(lm, run, select, dev, score, card)


def report(lm, run: dict, select: tuple, dev: list[dict], score, card: dict) -> int:
    """The `key: value` summary (the harness re-scores final_model/ itself)."""
    status = "nan" if run["stopped"] == "nan" else "ok"
    dev_acc = max(run["best"], 0.0)
    if select[0] != "dev" and run["best_state"] is not None:
        dev_acc = evaluate(lm, run["best_state"], dev[:DEV_LIMIT], score, card["max_new_tokens"])
        print(f"{select[0]}_accuracy: {max(run['best'], 0.0):.4f}")
    summary = {"status": status, "dev_accuracy": round(dev_acc, 4), "best_step": run["best_step"],
               "steps": run["step"], "train_tokens_per_s": round(run["tokens"] / max(run["train_seconds"], 1e-9)),
               "final_model": str(OUT) if run["best_state"] is not None else "none", "stopped": run["stopped"]}
    print("\n".join(f"{k}: {v}" for k, v in summary.items()), flush=True)
    return 3 if status == "nan" else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # everything is saved and flushed: skip torch's slow interpreter teardown
