"""`make_model(spec, ...)`: one model string from the team YAML to a Model. `scripted` serves role
policies, `replay:PATH` a cassette, anything else goes to litellm; `record=`/`replay=` wrap any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from sandbox.errors import ConfigError
from team.models.base import Model
from team.models.limits import ProviderLimits
from team.models.replay import Recorder, ReplayBackend
from team.models.scripted import ScriptedBackend

__all__ = ["make_model"]


def make_model(spec: str, *, api_base: str | None = None, api_key: str | None = None,
               rpm: float | None = None, tpm: float | None = None, price: Mapping[str, float] | None = None,
               policies: Mapping[str, Callable[[Any], Any]] | None = None, timeout: float = 60,
               max_retries: int = 4, backoff: tuple[float, float] = (0.5, 8.0), repair_turns: int = 2,
               record: Path | str | None = None, replay: Path | str | None = None,
               replay_mode: Literal["strict", "then_live"] = "strict",
               limits: ProviderLimits | None = None) -> Model:
    """Build the Model for `spec`. With `replay`, calls are served from that cassette first (a miss
    is an error in strict mode, or goes to the live model with `then_live`); with `record`, every call
    that reaches the live model is appended to that cassette."""
    spec = spec.strip()
    if not spec:
        raise ConfigError("model: empty model string (use 'scripted', 'replay:FILE' or a litellm model)")
    if spec.startswith("replay:"):
        return ReplayBackend(spec.removeprefix("replay:"), mode="strict")
    if spec == "scripted":
        model: Model = ScriptedBackend(policies)
    else:
        from team.models.litellm_backend import LiteLLMBackend  # litellm itself loads on the first call

        model = LiteLLMBackend(spec, api_base=api_base, api_key=api_key, rpm=rpm, tpm=tpm,
                               price=_checked_price(spec, price), timeout=timeout, max_retries=max_retries,
                               backoff=backoff, repair_turns=repair_turns, limits=limits)
    if record is not None:
        model = Recorder(model, record)
    if replay is not None:
        model = ReplayBackend(replay, mode=replay_mode, live=model, model=model.name)
    return model


def _checked_price(spec: str, price: Any) -> Any:
    if price is None:
        return None
    from pydantic import BaseModel, ValidationError

    from team.models.pricing import Price

    if isinstance(price, Price):
        return price
    if isinstance(price, BaseModel):  # the team YAML's own price model
        price = price.model_dump(exclude_none=True)
    try:
        return Price(**price)
    except (ValidationError, TypeError) as exc:
        raise ConfigError(f"model {spec}: bad price {price!r}: {' '.join(str(exc).split())[:200]}") from None
