"""What a call cost in USD: a price from the team YAML wins; otherwise litellm's local price map;
local models (an api_base, or ollama/hosted_vllm/... not in the map) cost nothing unless priced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sandbox.errors import ConfigError
from team.models.base import Usage

__all__ = ["Price", "Pricing", "LOCAL_PREFIXES"]

LOCAL_PREFIXES = ("ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile", "vllm")


class Price(BaseModel):
    """USD per million tokens, as written in YAML (`price: {input_per_mtok: 3, output_per_mtok: 15}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)

    def cost(self, usage: Usage) -> float:
        cached_rate = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        fresh = usage.prompt_tokens - usage.cached_tokens
        return (fresh * self.input_per_mtok + usage.cached_tokens * cached_rate
                + usage.completion_tokens * self.output_per_mtok) / 1e6


@dataclass(frozen=True)
class Pricing:
    """How one model is priced: `price` (YAML), `mapped` (litellm's map) or `free` (local)."""

    model: str
    source: str  # "price" | "mapped" | "free"
    price: Price | None = None

    @classmethod
    def resolve(cls, litellm: Any, model: str, api_base: str | None, price: Any) -> Pricing:
        if price is not None:
            return cls(model, "price", price if isinstance(price, Price) else Price(**price))
        if api_base or model.split("/", 1)[0] in LOCAL_PREFIXES:
            return cls(model, "free")
        if _in_price_map(litellm, model):
            return cls(model, "mapped")
        raise ConfigError(f"model {model}: not in litellm's price map; set "
                          "price: {input_per_mtok: ..., output_per_mtok: ...} for it in the team YAML")

    def cost(self, litellm: Any, usage: Usage) -> float:
        if self.source == "price":
            return self.price.cost(usage)
        if self.source == "free":
            return 0.0
        prompt, completion = litellm.cost_per_token(
            model=self.model, prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, cache_read_input_tokens=usage.cached_tokens)
        return float(prompt + completion)


def _in_price_map(litellm: Any, model: str) -> bool:
    try:
        litellm.cost_per_token(model=model, prompt_tokens=1, completion_tokens=1)
    except Exception:  # litellm raises several types for an unmapped model
        return False
    return True
