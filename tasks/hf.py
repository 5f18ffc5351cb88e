"""The `hf` task kind: a Hugging Face causal LM from a local directory (transformers, peft), trained by
the same recipe; bf16 autocast on CUDA. Needs the `hf` extra.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from tasks.lm import LoadedLM

__all__ = ["load_hf", "adapt_hf", "hf_greedy_batch", "save_copy"]

_LAYER = re.compile(r"\.(?:layers|h|blocks)\.(\d+)\.")


class _Logits(nn.Module):
    """ids -> logits, so the shared training loop can drive any causal LM."""

    def __init__(self, inner: nn.Module, device: torch.device):
        super().__init__()
        self.inner, self.autocast = inner, device.type == "cuda"

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
            return self.inner(input_ids=ids, use_cache=False).logits


def load_hf(model_dir: Path, device: torch.device) -> LoadedLM:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    inner = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).to(device)
    if tok.eos_token_id is None:
        raise ValueError(f"{model_dir}: the tokenizer has no eos token")
    wrapper = _Logits(inner, device)
    ctx = int(getattr(inner.config, "max_position_embeddings", 2048) or 2048)

    def encode(text: str) -> list[int]:
        return tok(text, add_special_tokens=False).input_ids

    def decode(ids: list[int]) -> str:
        return tok.decode(ids, skip_special_tokens=True)

    def save(out_dir: Path, lineage: dict) -> Path:
        return _save(wrapper, tok, Path(out_dir), lineage)

    return LoadedLM(wrapper, encode, decode, tok.eos_token_id, min(ctx, 4096), "hf", device, save, tokenizer=tok)


def _save(wrapper: _Logits, tok, out: Path, lineage: dict) -> Path:
    model = wrapper.inner
    if hasattr(model, "merge_and_unload"):  # peft: fold the adapters into plain weights
        model = model.merge_and_unload()
        wrapper.inner = model
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    (out / "lineage.json").write_text(json.dumps(lineage, indent=1, sort_keys=True, default=str))
    return out


def save_copy(lm: LoadedLM, out: Path) -> Path:
    """The model's current weights as a plain model directory, without touching the model being trained
    (LoRA adapters are merged into a copy)."""
    import copy

    model = lm.model.inner
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    lm.tokenizer.save_pretrained(str(out))
    return out


def adapt_hf(lm: LoadedLM, config: dict) -> None:
    """LoRA on every linear layer (peft) or full fine-tuning, with the first layers frozen."""
    wrapper = lm.model
    if config["method"] == "lora":
        from peft import LoraConfig, get_peft_model

        rank = config["lora_rank"]
        skip = config["freeze_layers"]
        n_layers = _n_layers(wrapper.inner)  # adapters on the last layer at least, however many are frozen
        layers = None if skip == 0 or not n_layers else list(range(min(skip, n_layers - 1), n_layers))
        # peft takes layers_to_transform only with the modules named (not "all-linear"): the layers' linears
        targets = sorted({name.rsplit(".", 1)[-1] for name, module in wrapper.inner.named_modules()
                          if isinstance(module, nn.Linear) and _LAYER.search(name)})
        peft_config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                 target_modules=targets if layers else "all-linear", layers_to_transform=layers)
        wrapper.inner = get_peft_model(wrapper.inner, peft_config)
        return
    n = config["freeze_layers"]
    if n > 0:
        wrapper.inner.get_input_embeddings().weight.requires_grad_(False)
        for name, param in wrapper.inner.named_parameters():
            match = _LAYER.search(name)
            if match and int(match.group(1)) < n:
                param.requires_grad_(False)


def _n_layers(model: nn.Module) -> int:
    cfg = model.config
    return int(getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", 0))


@torch.no_grad()
def hf_greedy_batch(lm: LoadedLM, rows: list[list[int]], max_new_tokens: int) -> list[str]:
    """Greedy decoding of equal-length prompts with the model's own generate (KV cache)."""
    ids = torch.tensor(rows, dtype=torch.long, device=lm.device)
    inner = lm.model.inner
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=lm.device.type == "cuda"):
        out = inner.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=lm.eos_id, pad_token_id=lm.eos_id)
    texts = []
    for row in out[:, ids.shape[1]:].tolist():
        texts.append(lm.decode(row[: row.index(lm.eos_id)] if lm.eos_id in row else row))
    return texts
