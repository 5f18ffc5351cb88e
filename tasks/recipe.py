"""The training recipe an engineer's job runs: `python -m tasks.recipe --config config.json ...`.

Fine-tunes the base model on items of the visible training pool with the task's knobs (the task card
`task.json` in the visible folder declares them), streams metrics as JSON lines to $SYNTHTEAM_METRICS,
keeps the best-dev weights as `final_model/` and ends with a `key: value` summary. It stops by itself
at 85% of `--wall-seconds` (exit 0, `stopped: time_limit`); NaN loss exits 3.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

__all__ = ["main", "EXIT_NAN"]

EXIT_NAN = 3
WALL_FRACTION = 0.85
SAVE_SHARE = 0.03  # of the limit kept before WALL_FRACTION for saving the model (at least a second)


def _process_age() -> float:
    """Seconds since this process started (the sandbox's wall clock starts then, not at main())."""
    try:
        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tasks.recipe", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="JSON file of knob values")
    p.add_argument("--visible", required=True, help="the task's visible folder (task.json, train.jsonl, dev.jsonl, evaluate.py)")
    p.add_argument("--base-model", required=True, help="the base model directory")
    p.add_argument("--dev", default=None, help="dev split (JSON lines; default: VISIBLE/dev.jsonl)")
    p.add_argument("--wall-seconds", type=float, default=60.0, help="the job's wall limit; the recipe stops at 85%%")
    p.add_argument("--out", default="final_model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available for hf models)")
    p.add_argument("--dev-limit", type=int, default=128, help="dev items scored at each evaluation")
    return p


class _Metrics:
    def __init__(self, dev_n: int):
        self.path = Path(os.environ.get("SYNTHTEAM_METRICS") or "metrics.jsonl")
        self.handle = open(self.path, "a", buffering=1)
        self.dev_n = dev_n

    def __call__(self, row: dict) -> None:
        if "dev_accuracy" in row:
            row = {**row, "dev_n": self.dev_n}
        self.handle.write(json.dumps(row) + "\n")


def main(argv: list[str] | None = None) -> int:
    from tasks.training import now

    started = 0.0 if os.environ.get("SYNTHTEAM_CLOCK") == "cpu" else now() - _process_age()
    args = _parser().parse_args(argv)
    import torch

    from tasks.visible import read_card, validate_card_config

    torch.set_num_threads(max(1, args.threads))
    card = read_card(Path(args.visible))
    config, problems = validate_card_config(card, json.loads(Path(args.config).read_text()))
    if problems:
        print("\n".join(f"error: {line}" for line in problems) + "\nstatus: bad_config")
        return 2
    return _run(_CardTask(card, Path(args.visible)), config, args, started)


class _CardTask:
    """What the recipe needs of a task, from its public card."""

    def __init__(self, card: dict, visible: Path):
        self.name, self.kind, self.max_new_tokens = card["name"], card["kind"], card["max_new_tokens"]
        self.visible, self.card = visible, card
        self.evaluate_path = visible / "evaluate.py"


def _run(task, config: dict, args, started: float) -> int:
    import torch

    from tasks import training
    from tasks.chat import use_task_format
    from tasks.evaluation import load_score, score_items
    from tasks.lm import load_lm
    from tasks.splits import read_jsonl

    torch.manual_seed(config["seed"])
    lm = load_lm(Path(args.base_model), task.kind, args.device)
    use_task_format(lm, task.visible, task.card)  # prompts as the task's evaluation renders them
    _adapt(lm, config)
    data = _training_data(task, lm, config, Path(args.base_model))
    dev = read_jsonl(Path(args.dev) if args.dev else task.visible / "dev.jsonl")[: args.dev_limit]
    score = load_score(task.evaluate_path)

    def evaluate() -> float:
        return sum(score_items(lm, dev, score, task.max_new_tokens)) / len(dev)

    # One deadline from the process start: the set-up (torch import, model, data, optimizer) counts too.
    deadline = started + args.wall_seconds * WALL_FRACTION - _save_margin(args, lm)
    settings = _settings(config, deadline - training.now())
    metrics = _Metrics(dev_n=len(dev))
    outcome = training.train(lm.model, data, settings, evaluate=evaluate, log=metrics, device=lm.device,
                             deadline=deadline)
    return _finish(task, lm, config, outcome, args)


def _save_margin(args, lm) -> float:
    return max(1.0, SAVE_SHARE * args.wall_seconds) + (5.0 if lm.kind == "hf" else 0.0)


def _settings(config: dict, seconds: float):
    from tasks.training import TrainSettings

    return TrainSettings(
        lr=config["lr"], schedule=config["schedule"], warmup_frac=config["warmup_frac"], steps=config["steps"],
        batch_size=config["batch_size"], weight_decay=config["weight_decay"], seed=config["seed"],
        seconds=max(seconds, 0.5),
    )


def _adapt(lm, config: dict) -> None:
    """Full fine-tuning, LoRA adapters, and frozen layers, as the config asks."""
    if lm.kind == "hf":
        from tasks.hf import adapt_hf

        adapt_hf(lm, config)
        return
    from tasks.lora import add_lora, freeze_layers

    if config["method"] == "lora":
        add_lora(lm.model, config["lora_rank"], skip_layers=config["freeze_layers"])
    else:
        freeze_layers(lm.model, config["freeze_layers"])


def _training_data(task, lm, config: dict, base_model: Path):
    """`n_train` items of the visible training pool plus replayed pre-training text."""
    from tasks import training
    from tasks.corpus import pretraining_ids
    from tasks.splits import read_jsonl
    from tasks.visible import sample_pool

    rng = random.Random(config["seed"])
    pool = read_jsonl(task.visible / "train.jsonl")
    items = sample_pool(pool, config["n_train"], config["hard_frac"], rng)
    pairs = [(lm.prompt_of(i), i["answer"]) for i in items]
    data = training.encode_pairs(lm.encode, pairs, lm.eos_id, lm.ctx)
    n_replay = int(round(config["replay_frac"] / (1.0 - config["replay_frac"]) * len(pairs)))
    if n_replay == 0:
        return data
    width = data.ids.shape[1] + 8
    ids = pretraining_ids(base_model, lm.encode, rng, n_replay * width + 1)
    replay = training.chunk_ids(ids[: n_replay * width + 1], width)
    return training.concat(data, replay)


def _finish(task, lm, config: dict, outcome, args) -> int:
    from tasks.prepare import weights_digest

    out = Path(args.out)
    if outcome.best_state is not None:
        lm.model.load_state_dict(outcome.best_state)
        lineage = {"kind": "finetune", "task": task.name, "base_model": str(Path(args.base_model).resolve()),
                   "base_weights": weights_digest(Path(args.base_model)), "config": config,
                   "best_step": outcome.best_step}
        lm.save(out, lineage)
    status = "nan" if outcome.stopped == "nan" else "ok"
    summary = {
        "status": status, "dev_accuracy": round(max(outcome.best_score, 0.0), 4), "best_step": outcome.best_step,
        "steps": outcome.steps, "train_tokens_per_s": round(outcome.train_tokens / max(outcome.train_seconds, 1e-9)),
        "final_model": str(out) if outcome.best_state is not None else "none", "stopped": outcome.stopped,
    }
    print("\n".join(f"{k}: {v}" for k, v in summary.items()), flush=True)
    return EXIT_NAN if status == "nan" else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # everything is saved and flushed: skip torch's slow interpreter teardown (~1 s)
