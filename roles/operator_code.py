"""The code the operators of `roles.operators` put into train.py: whole top-level functions, written
against the starter's names (BATCH_SIZE, IGNORE, log, loss_fn, replay_rows, ...), and the new constants
each one adds (the choices its rng picks from). Data, not logic: the operators module applies it.
"""

from __future__ import annotations

__all__ = ["CODE", "NEW_CONSTANTS"]

NEW_CONSTANTS: dict[str, dict[str, tuple]] = {
    "curriculum": {"CURRICULUM_START": (0.25,)},
    "answer_weighting": {"ANSWER_FIRST_WEIGHT": (2.0,)},
    "ema": {"EMA_DECAY": (0.97,), "EMA_START": (0.5,)},
    "checkpoint_average": {"AVERAGE_FROM": (0.75,), "AVERAGE_EVERY": (10,)},
    "holdout_best": {"HOLDOUT_N": (128,)},
    "replay": {"REPLAY_EVERY": (4,), "REPLAY_WEIGHT": (0.3,), "REPLAY_ROWS": (2000,)},
    "warm_restarts": {"RESTARTS": (2,), "RESTART_DECAY": (0.5,)},
    "wsd_schedule": {"DECAY_FROM": (0.7,)},
    "batch_ramp": {"RAMP_DIV": (4,), "RAMP_UNTIL": (0.5,)},
}

_SORTED_ROWS = '''
    if "by_length" not in memory:
        memory["by_length"] = torch.argsort(data["lengths"], stable=True)
    order = memory["by_length"]'''

CODE: dict[str, dict[str, str]] = {
    "curriculum": {"next_batch": '''
def next_batch(data: dict, step: int, progress: float, gen: torch.Generator, memory: dict):
    """[operator: curriculum] Easy rows first: BATCH_SIZE random rows from the shortest share of the
    data, which grows from CURRICULUM_START to all rows by the middle of the run."""''' + _SORTED_ROWS + '''
    share = min(1.0, CURRICULUM_START + (1.0 - CURRICULUM_START) * progress / 0.5)
    allowed = order[: max(BATCH_SIZE, int(share * len(order)))]
    index = allowed[torch.randint(len(allowed), (BATCH_SIZE,), generator=gen)]
    if step % (5 * LOG_EVERY) == 0:
        log({"step": step, "curriculum_share": round(share, 4)})
    width = int(data["lengths"][index].max())
    return data["ids"][index, :width].to(DEVICE), data["targets"][index, :width].to(DEVICE)
'''},
    "length_buckets": {"next_batch": '''
def next_batch(data: dict, step: int, progress: float, gen: torch.Generator, memory: dict):
    """[operator: length_buckets] BATCH_SIZE random rows of similar length: a random window of
    4 x BATCH_SIZE rows in length order, so a batch carries little padding."""''' + _SORTED_ROWS + '''
    span = min(len(order), 4 * BATCH_SIZE)
    start = int(torch.randint(len(order) - span + 1, (1,), generator=gen))
    window = order[start : start + span]
    index = window[torch.randint(span, (BATCH_SIZE,), generator=gen)]
    width = int(data["lengths"][index].max())
    return data["ids"][index, :width].to(DEVICE), data["targets"][index, :width].to(DEVICE)
'''},
    "answer_weighting": {"loss_fn": '''
def loss_fn(model, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[operator: answer_weighting] Cross-entropy averaged per example, then over the batch (a short
    answer weighs as much as a long one); each answer's first token counts ANSWER_FIRST_WEIGHT times."""
    logits = model(ids)
    mask = (targets != IGNORE).float()
    losses = F.cross_entropy(logits.transpose(1, 2).float(), targets.clamp(min=0), reduction="none") * mask
    weights = mask + (ANSWER_FIRST_WEIGHT - 1.0) * mask * (mask.cumsum(1) == 1).float()
    per_row = (losses * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return per_row[mask.sum(1) > 0].mean()
'''},
    "ema": {"after_step": '''
def after_step(model, step: int, progress: float, memory: dict) -> None:
    """[operator: ema] From EMA_START of the run on, keep an exponential moving average of the weights."""
    if progress < EMA_START:
        return
    current = [v.detach() for v in model.state_dict().values()]
    if "ema" not in memory:
        memory["ema"] = [v.clone().float() for v in current]
        log({"step": step, "ema_started": True, "ema_decay": EMA_DECAY})
        return
    with torch.no_grad():
        torch._foreach_lerp_(memory["ema"], [v.float() for v in current], 1.0 - EMA_DECAY)
''', "candidate": '''
def candidate(model, memory: dict) -> dict:
    """[operator: ema] The weights an evaluation scores and may keep: the moving average once it runs."""
    state = model.state_dict()
    if "ema" not in memory:
        return {k: v.detach().clone() for k, v in state.items()}
    return {k: e.to(v.dtype).clone() for (k, v), e in zip(state.items(), memory["ema"])}
'''},
    "checkpoint_average": {"after_step": '''
def after_step(model, step: int, progress: float, memory: dict) -> None:
    """[operator: checkpoint_average] From AVERAGE_FROM of the run on, every AVERAGE_EVERY steps, add
    the weights to a running average (the tail of the run, where the learning rate is low)."""
    if progress < AVERAGE_FROM or step % AVERAGE_EVERY:
        return
    current = [v.detach().float() for v in model.state_dict().values()]
    n = memory.get("averaged", 0)
    if n == 0:
        memory["average"] = [v.clone() for v in current]
    else:
        with torch.no_grad():
            torch._foreach_lerp_(memory["average"], current, 1.0 / (n + 1))
    memory["averaged"] = n + 1
''', "candidate": '''
def candidate(model, memory: dict) -> dict:
    """[operator: checkpoint_average] The weights an evaluation scores and may keep: the average of
    the checkpoints taken so far, once there are two."""
    state = model.state_dict()
    if memory.get("averaged", 0) < 2:
        return {k: v.detach().clone() for k, v in state.items()}
    log({"checkpoints_averaged": memory["averaged"]})
    return {k: a.to(v.dtype).clone() for (k, v), a in zip(state.items(), memory["average"])}
'''},
    "holdout_best": {"selection_items": '''
def selection_items(pool: list[dict], items: list[dict], dev: list[dict], rng: random.Random):
    """[operator: holdout_best] Choose the best checkpoint on HOLDOUT_N pool items that are not trained
    on (HARD_FRAC of them hard); dev is only reported. Falls back to dev when the pool is used up."""
    used = {i["prompt"] for i in items}
    rest = [i for i in pool if i["prompt"] not in used]
    if not rest:
        return "dev", dev[:DEV_LIMIT]
    rng.shuffle(rest)
    hard = [i for i in rest if i.get("hard")][: round(HOLDOUT_N * HARD_FRAC)]
    easy = [i for i in rest if not i.get("hard")][: HOLDOUT_N - len(hard)]
    return "holdout", hard + easy
'''},
    "more_data": {"choose_items": '''
def choose_items(pool: list[dict], rng: random.Random) -> list[dict]:
    """[operator: more_data] Every item of the training pool (N_TRAIN is ignored), shuffled, so a long
    run sees each example fewer times."""
    items = list(pool)
    rng.shuffle(items)
    print(f"train_items: {len(items)}", flush=True)
    return items
'''},
    "replay": {"extra_loss": '''
def extra_loss(lm, data: dict, step: int, gen: torch.Generator, memory: dict):
    """[operator: replay] Every REPLAY_EVERY steps, a batch of the base model's pre-training text with
    its language-model loss, weighted REPLAY_WEIGHT: the model keeps what it knew."""
    if step % REPLAY_EVERY:
        return None
    if "replay" not in memory:
        memory["replay"] = replay_rows(lm, random.Random(SEED + 1), REPLAY_ROWS, 32)
    rows = memory["replay"]
    index = torch.randint(len(rows["ids"]), (BATCH_SIZE,), generator=gen)
    loss = loss_fn(lm.model, rows["ids"][index].to(DEVICE), rows["targets"][index].to(DEVICE))
    if step % (REPLAY_EVERY * LOG_EVERY) == 0:
        log({"step": step, "replay_loss": round(float(loss), 5)})
    return REPLAY_WEIGHT * loss
'''},
    "warm_restarts": {"lr_at": '''
def lr_at(progress: float) -> float:
    """[operator: warm_restarts] Linear warmup, then RESTARTS cosine cycles, each peak RESTART_DECAY
    times the one before (SGDR)."""
    if WARMUP_FRAC > 0 and progress < WARMUP_FRAC:
        return max(progress / WARMUP_FRAC, 1e-3)
    rest = min(1.0, (progress - WARMUP_FRAC) / max(1e-9, 1.0 - WARMUP_FRAC)) * RESTARTS
    cycle = min(int(rest), RESTARTS - 1)
    return RESTART_DECAY**cycle * 0.5 * (1.0 + math.cos(math.pi * (rest - cycle)))
'''},
    "wsd_schedule": {"lr_at": '''
def lr_at(progress: float) -> float:
    """[operator: wsd_schedule] Warmup, then the peak rate held until DECAY_FROM of the run, then a
    linear decay to zero (warmup-stable-decay): a short run spends more of itself at the peak."""
    if WARMUP_FRAC > 0 and progress < WARMUP_FRAC:
        return max(progress / WARMUP_FRAC, 1e-3)
    if progress < DECAY_FROM:
        return 1.0
    return max(0.0, (1.0 - progress) / max(1e-9, 1.0 - DECAY_FROM))
'''},
    "batch_ramp": {"next_batch": '''
def next_batch(data: dict, step: int, progress: float, gen: torch.Generator, memory: dict):
    """[operator: batch_ramp] Small batches first: BATCH_SIZE / RAMP_DIV random rows at the start,
    growing linearly to BATCH_SIZE by RAMP_UNTIL of the run (many cheap updates while the model is far
    off), each batch cut to its longest row."""
    share = min(1.0, 1.0 / RAMP_DIV + (1.0 - 1.0 / RAMP_DIV) * progress / RAMP_UNTIL)
    size = max(1, int(round(BATCH_SIZE * share)))
    index = torch.randint(len(data["ids"]), (size,), generator=gen)
    if step % (5 * LOG_EVERY) == 0:
        log({"step": step, "batch_size": size})
    width = int(data["lengths"][index].max())
    return data["ids"][index, :width].to(DEVICE), data["targets"][index, :width].to(DEVICE)
'''},
}
