"""The built-in base model: a small character-level causal transformer, and its model directory.

A model directory holds `config.json` (the architecture), `model.pt` (a plain state dict),
`vocab.json` (the characters) and `lineage.json` (where the weights came from).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ARCH = "synthteam-tinylm-v1"
PAD, BOS, EOS = 0, 1, 2
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))


@dataclass(frozen=True)
class TinyConfig:
    vocab_size: int = 3 + len(CHARS)
    d_model: int = 96
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 384
    ctx: int = 96
    arch: str = ARCH


class CharTokenizer:
    """Characters to ids and back; PAD=0, BOS=1, EOS=2, then one id per character."""

    def __init__(self, chars: str = CHARS):
        self.chars = chars
        self._ids = {c: i + 3 for i, c in enumerate(chars)}
        self.eos_id, self.pad_id, self.bos_id = EOS, PAD, BOS

    def encode(self, text: str) -> list[int]:
        try:
            return [self._ids[c] for c in text]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - 3] for i in ids if i >= 3)


class Block(nn.Module):
    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.fc2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).transpose(1, 3).unbind(2)
        if cache is not None:  # generation: [past_k, past_v] grows by t positions
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        att = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(_init)
        for block in self.blocks:  # scaled residual init (GPT-2)
            nn.init.normal_(block.fc2.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))
            nn.init.normal_(block.proj.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))

    def forward(self, ids: torch.Tensor, cache: list[list] | None = None) -> torch.Tensor:
        """Logits for `ids`; with `cache` (one list per block, empty at first) it continues a prefix."""
        start = cache[0][0].shape[2] if cache and cache[0] else 0
        x = self.tok(ids) + self.pos.weight[start : start + ids.shape[1]]
        for i, block in enumerate(self.blocks):
            x = block(x, None if cache is None else cache[i])
        return self.head(self.ln_f(x))


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def new_model(cfg: TinyConfig | None = None, seed: int = 0) -> TinyLM:
    torch.manual_seed(seed)
    return TinyLM(cfg or TinyConfig())


def save_model(model: TinyLM, out_dir: Path, lineage: dict) -> Path:
    """Write a model directory; `lineage` records the parent (base digest, how it was made)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(asdict(model.cfg), indent=1))
    (out_dir / "vocab.json").write_text(json.dumps({"chars": CHARS, "pad": PAD, "bos": BOS, "eos": EOS}))
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    torch.save(state, out_dir / "model.pt")
    (out_dir / "lineage.json").write_text(json.dumps(lineage, indent=1, sort_keys=True))
    return out_dir


def read_config(model_dir: Path) -> TinyConfig:
    raw = json.loads((Path(model_dir) / "config.json").read_text())
    return TinyConfig(**raw)


def load_state(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(Path(model_dir) / "model.pt", map_location="cpu", weights_only=True)


def load_model(model_dir: Path) -> TinyLM:
    model = TinyLM(read_config(model_dir))
    model.load_state_dict(load_state(model_dir))
    return model


def permute_channels(model: TinyLM, seed: int) -> TinyLM:
    """The same function with the residual channels shuffled: every weight matrix moves, outputs do not.

    The decoy checkpoint is stored this way so that its weights are unmistakable (a team that submits
    it, or anything trained from it, shows up far from the base and close to the decoy).
    """
    perm = torch.randperm(model.cfg.d_model, generator=torch.Generator().manual_seed(seed))
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    for key, value in sd.items():
        sd[key] = _permute_tensor(key, value, perm)
    out = TinyLM(model.cfg)
    out.load_state_dict(sd)
    return out


def _permute_tensor(key: str, value: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    name = key.rsplit(".", 2)[-2] if "." in key else key
    if key in ("tok.weight", "pos.weight", "head.weight"):
        return value[:, perm]
    if name in ("ln1", "ln2", "ln_f"):
        return value[perm]
    if name in ("qkv", "fc1"):
        return value[:, perm] if value.dim() == 2 else value
    if name in ("proj", "fc2"):
        return value[perm] if value.dim() == 1 else value[perm, :]
    return value
