"""The training loop shared by pre-training, the decoy and the recipe: answer-masked next-token loss,
AdamW, warmup + schedule, a step and a time bound (whichever comes first), dev evaluation and best-dev
weights kept in memory.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["TrainSettings", "TrainOutcome", "TokenData", "encode_pairs", "encode_chunks", "chunk_ids", "concat", "train", "lr_factor"]

IGNORE = -100


def now() -> float:
    """The job's clock (SYNTHTEAM_CLOCK): wall seconds, or with `cpu` this process's CPU seconds, which the
    harness limits by the job's cgroup (the same compute alone and beside busy neighbours)."""
    return time.process_time() if os.environ.get("SYNTHTEAM_CLOCK") == "cpu" else time.perf_counter()


@dataclass(frozen=True)
class TrainSettings:
    lr: float = 3e-3
    schedule: str = "cosine"  # constant | cosine | linear
    warmup_frac: float = 0.05
    steps: int = 1000
    batch_size: int = 64
    weight_decay: float = 0.0
    seed: int = 0
    seconds: float = math.inf  # stop (with the best weights) when this much training time has passed
    evals: int = 6  # dev evaluations spread over the run (plus one at the end)
    grad_clip: float = 1.0
    log_every: int = 10


@dataclass(frozen=True)
class TokenData:
    """Right-padded token rows with their targets (IGNORE where no loss), and each row's length."""

    ids: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor


@dataclass(frozen=True)
class TrainOutcome:
    steps: int
    best_step: int
    best_score: float
    stopped: str  # steps | time_limit | nan
    train_tokens: int
    train_seconds: float
    best_state: dict | None


def encode_pairs(encode: Callable[[str], list[int]], pairs: Sequence[tuple[str, str]], eos: int, ctx: int) -> TokenData:
    """Prompt + answer + EOS per row; loss only on the answer and EOS."""
    rows = []
    for prompt, answer in pairs:
        p, a = encode(prompt), encode(answer) + [eos]
        rows.append(((p + a)[:ctx], ([IGNORE] * (len(p) - 1) + a + [IGNORE])[:ctx]))
    return _pad(rows)


def encode_chunks(encode: Callable[[str], list[int]], text: str, length: int) -> TokenData:
    """Plain language-model rows (loss on every next token) cut from a long text."""
    ids = encode(text)
    rows = [(ids[i : i + length], ids[i + 1 : i + length + 1]) for i in range(0, len(ids) - length - 1, length)]
    return _pad(rows)


def chunk_ids(ids: Sequence[int], length: int) -> TokenData:
    """Every whole row of `length` tokens (targets: the next tokens) that `ids` holds: len(ids) // length rows
    when it holds one token more than that."""
    rows = [(ids[i : i + length], ids[i + 1 : i + length + 1]) for i in range(0, len(ids) - length, length)]
    return _pad(rows)


def _pad(rows: list[tuple[list[int], list[int]]]) -> TokenData:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (row, tgt) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        targets[i, : len(tgt)] = torch.tensor(tgt)
    return TokenData(ids, targets, torch.tensor([len(r) for r, _ in rows]))


def lr_factor(progress: float, settings: TrainSettings) -> float:
    warm = settings.warmup_frac
    if warm > 0 and progress < warm:
        return max(progress / warm, 1e-3)
    rest = min(1.0, (progress - warm) / max(1e-9, 1.0 - warm))
    if settings.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * rest))
    if settings.schedule == "linear":
        return 1.0 - rest
    return 1.0


def _batch(data: TokenData, index: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = int(data.lengths[index].max())
    return data.ids[index, :width].to(device), data.targets[index, :width].to(device)


def _loss(model: torch.nn.Module, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = model(ids)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE)


class _Clock:
    """Progress through the run, which drives the schedule and the evaluation points.

    While the step bound is the one that will end the run, progress is `step / steps` alone, so a job
    that ends by its step count is reproducible (same seed, same schedule, same evaluations, same best
    checkpoint) however fast the machine is. Once the run is projected to hit its time bound first, it
    switches for good to the larger of the step and time fractions, so it still decays and stops in time.
    """

    WARM_STEPS = 5  # the first steps (allocation, warm-up) say little about the pace

    def __init__(self, settings: TrainSettings, deadline: float | None = None):
        self.settings, self.start = settings, now()
        self.seconds = settings.seconds if deadline is None else max(min(settings.seconds, deadline - self.start), 0.5)
        self.eval_seconds = 0.0  # counted against the time bound, but not as training time
        self.last_eval = 0.0  # reserved at the end so that the final evaluation fits in the bound
        self.timed = False  # set for good once the time bound is projected to end the run
        self._pace_from: tuple[int, float] | None = None

    def elapsed(self) -> float:
        return now() - self.start

    def progress(self, step: int) -> float:
        by_steps = step / self.settings.steps
        if not math.isfinite(self.seconds):
            return by_steps
        by_time = (self.elapsed() + 1.5 * self.last_eval) / self.seconds
        if not self.timed:
            self.timed = by_time >= 1.0 or self._projected(step) > self.seconds
        return max(by_steps, by_time) if self.timed else by_steps

    def _projected(self, step: int) -> float:
        """Seconds the whole run will take at the pace since the warm-up steps (evaluations included)."""
        now = self.elapsed() - self.eval_seconds
        if step < self.WARM_STEPS or self._pace_from is None:
            if step >= self.WARM_STEPS:
                self._pace_from = (step, now)
            return 0.0
        first, then = self._pace_from
        if step - first < 3:
            return 0.0
        pace = (now - then) / (step - first)
        evals_left = max(self.settings.evals - int(self.settings.evals * step / self.settings.steps), 0) + 1
        remaining = (self.settings.steps - step) * pace + evals_left * self.last_eval
        return self.elapsed() + 1.1 * remaining


def train(
    model: torch.nn.Module,
    data: TokenData,
    settings: TrainSettings,
    *,
    evaluate: Callable[[], float] | None = None,
    log: Callable[[dict], None] = lambda row: None,
    device: torch.device | str = "cpu",
    deadline: float | None = None,
) -> TrainOutcome:
    """Train until `steps` or `seconds` (or the `now()` `deadline`, which counts the set-up
    before this call too); evaluate `evals` times; keep the best-scoring weights."""
    device = torch.device(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _optimizer(params, settings, device)
    gen = torch.Generator().manual_seed(settings.seed)
    clock, best = _Clock(settings, deadline), _Best()
    step, tokens, stopped, next_eval = 0, 0, "steps", 1
    model.train()
    while True:
        progress = clock.progress(step)
        if progress >= 1.0:
            stopped = "steps" if step >= settings.steps else "time_limit"
            break
        for group in opt.param_groups:
            group["lr"] = settings.lr * lr_factor(progress, settings)
        ids, targets = _batch(data, torch.randint(len(data.ids), (settings.batch_size,), generator=gen), device)
        loss = _loss(model, ids, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        opt.step()
        step, tokens = step + 1, tokens + ids.numel()
        if step % settings.log_every == 0 or step == 1:
            value = loss.item()
            log({"step": step, "train_loss": round(value, 5), "lr": opt.param_groups[0]["lr"], "tokens": tokens})
            if not math.isfinite(value):
                stopped = "nan"
                break
        if evaluate is not None and clock.progress(step) * settings.evals >= next_eval:
            next_eval = math.floor(clock.progress(step) * settings.evals) + 1
            _evaluate(model, evaluate, step, clock, best, log)
    if evaluate is not None and stopped != "nan" and best.step != step:
        _evaluate(model, evaluate, step, clock, best, log)
    train_seconds = clock.elapsed() - clock.eval_seconds
    return TrainOutcome(step, best.step, best.score, stopped, tokens, train_seconds, best.state)


class _Best:
    def __init__(self):
        self.step, self.score, self.state = 0, -1.0, None


def _evaluate(model, evaluate, step: int, clock: _Clock, best: _Best, log) -> None:
    started = now()
    model.eval()
    with torch.no_grad():
        score = float(evaluate())
    model.train()
    log({"step": step, "dev_accuracy": round(score, 5), "eval_seconds": round(now() - started, 3)})
    if score > best.score:
        best.step, best.score = step, score
        best.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    clock.last_eval = now() - started
    clock.eval_seconds += clock.last_eval


def _optimizer(params: list, settings: TrainSettings, device: torch.device) -> torch.optim.Optimizer:
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.98), fused=fused or None)


def concat(a: TokenData, b: TokenData) -> TokenData:
    """Rows of both, padded to the wider of the two."""
    width = max(a.ids.shape[1], b.ids.shape[1])

    def widen(x: torch.Tensor, fill: int) -> torch.Tensor:
        return F.pad(x, (0, width - x.shape[1]), value=fill)

    return TokenData(
        torch.cat([widen(a.ids, 0), widen(b.ids, 0)]),
        torch.cat([widen(a.targets, IGNORE), widen(b.targets, IGNORE)]),
        torch.cat([a.lengths, b.lengths]),
    )
