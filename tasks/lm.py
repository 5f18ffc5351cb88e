"""One face for the two kinds of model directory (`tiny`: the built-in char model; `hf`: a Hugging Face
causal LM): load, encode/decode, greedy generation, save with lineage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tasks import tinylm

__all__ = ["LoadedLM", "load_lm", "greedy", "pick_device"]


@dataclass
class LoadedLM:
    model: torch.nn.Module  # ids [b, t] -> logits [b, t, vocab]
    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]
    eos_id: int
    ctx: int
    kind: str
    device: torch.device
    save: Callable[[Path, dict], Path]  # (out_dir, lineage) -> out_dir; merges adapters first
    tokenizer: Any = None  # hf: the transformers tokenizer
    format: Callable[[Mapping], str] | None = None  # item -> the text the model reads (tasks.chat.use_task_format)

    def prompt_of(self, item: Mapping) -> str:
        """What the model reads for an item: its prompt, or (a task scored by Inspect) the chat-rendered
        message the evaluation will show."""
        return self.format(item) if self.format is not None else item["prompt"]


def pick_device(name: str | None = None) -> torch.device:
    if name and name != "auto":
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_lm(model_dir: Path, kind: str = "tiny", device: str | None = None) -> LoadedLM:
    if kind == "hf":
        from tasks.hf import load_hf

        return load_hf(Path(model_dir), pick_device(device))
    model = tinylm.load_model(Path(model_dir))
    tok = tinylm.CharTokenizer()
    dev = pick_device(device) if device else torch.device("cpu")
    model.to(dev)

    def save(out_dir: Path, lineage: dict) -> Path:
        from tasks.lora import merged

        return tinylm.save_model(merged(model), out_dir, lineage)

    return LoadedLM(model, tok.encode, tok.decode, tok.eos_id, model.cfg.ctx, "tiny", dev, save)


def read_lineage(model_dir: Path) -> dict:
    path = Path(model_dir) / "lineage.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@torch.no_grad()
def greedy(lm: LoadedLM, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 256) -> list[str]:
    """Greedy continuations, cut at EOS. Prompts of equal length are batched together (no padding)."""
    encoded = [lm.encode(p) for p in prompts]
    out: list[str] = [""] * len(prompts)
    by_len: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_len.setdefault(len(ids), []).append(i)
    was_training = lm.model.training
    lm.model.eval()
    for idx in by_len.values():
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            for i, text in zip(chunk, _greedy_batch(lm, [encoded[i] for i in chunk], max_new_tokens), strict=True):
                out[i] = text
    lm.model.train(was_training)
    return out


def _greedy_batch(lm: LoadedLM, rows: list[list[int]], max_new_tokens: int) -> list[str]:
    if lm.kind == "hf":
        from tasks.hf import hf_greedy_batch

        return hf_greedy_batch(lm, rows, max_new_tokens)
    ids = torch.tensor(rows, dtype=torch.long, device=lm.device)
    cache: list[list] = [[] for _ in lm.model.blocks]
    done = torch.zeros(len(rows), dtype=torch.bool, device=lm.device)
    new, step_ids = [], ids
    for _ in range(min(max_new_tokens, lm.ctx - ids.shape[1])):
        nxt = lm.model(step_ids, cache)[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, lm.eos_id), nxt)
        new.append(nxt)
        done |= nxt == lm.eos_id
        if bool(done.all()):
            break
        step_ids = nxt[:, None]
    return [_cut(lm, row) for row in torch.stack(new, dim=1).tolist()] if new else [""] * len(rows)


def _cut(lm: LoadedLM, row: list[int]) -> str:
    return lm.decode(row[: row.index(lm.eos_id)] if lm.eos_id in row else row)
