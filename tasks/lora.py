"""LoRA and layer freezing for the built-in model: low-rank adapters on every linear layer of the
transformer blocks, merged back into plain weights when the model is saved.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["LoRALinear", "add_lora", "freeze_layers", "merged"]


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float | None = None):
        super().__init__()
        self.base = base
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.scale = (alpha or 2.0 * rank) / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale

    def merge(self) -> nn.Linear:
        out = copy.deepcopy(self.base)
        with torch.no_grad():
            out.weight += (self.b @ self.a) * self.scale
        out.weight.requires_grad_(True)
        return out


def _block_linears(block: nn.Module) -> list[str]:
    return [name for name, child in block.named_children() if isinstance(child, nn.Linear)]


def add_lora(model: nn.Module, rank: int, skip_layers: int = 0) -> nn.Module:
    """Freeze all weights; add rank-`rank` adapters to the linear layers of blocks from `skip_layers` on."""
    for p in model.parameters():
        p.requires_grad_(False)
    for i, block in enumerate(model.blocks):
        if i < skip_layers:
            continue
        for name in _block_linears(block):
            setattr(block, name, LoRALinear(getattr(block, name), rank))
    return model


def freeze_layers(model: nn.Module, n: int) -> nn.Module:
    """Freeze the embeddings and the first `n` blocks (n = 0: train everything)."""
    if n <= 0:
        return model
    for module in [model.tok, model.pos, *list(model.blocks)[:n]]:
        for p in module.parameters():
            p.requires_grad_(False)
    return model


def merged(model: nn.Module) -> nn.Module:
    """A copy of `model` with every adapter folded into its base weights (the model itself if none)."""
    if not any(isinstance(m, LoRALinear) for m in model.modules()):
        return model
    out = copy.deepcopy(model)
    for block in out.blocks:
        for name, child in list(block.named_children()):
            if isinstance(child, LoRALinear):
                setattr(block, name, child.merge())
    return out
