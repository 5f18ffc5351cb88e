"""Per-provider rate limits shared by every Model of that provider: requests/minute (evenly spaced,
no burst) and tokens/minute (token-weighted, the provider's one-minute bucket), on aiolimiter.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from aiolimiter import AsyncLimiter

__all__ = ["ProviderLimits", "RateLimiter", "provider_of", "DEFAULT_LIMITS"]


def provider_of(model: str, api_base: str | None = None) -> str:
    """`host:port` of the api_base when one is set (a local server is its own provider), else the
    litellm prefix before "/" (`openai`, `anthropic`, ...)."""
    if api_base:
        parsed = urlparse(api_base)
        return parsed.netloc or api_base
    return model.split("/", 1)[0] if "/" in model else model


@dataclass
class RateLimiter:
    rpm: float | None
    tpm: float | None
    _requests: AsyncLimiter | None = None
    _tokens: AsyncLimiter | None = None

    def __post_init__(self) -> None:
        if self.rpm:
            self._requests = AsyncLimiter(1, 60.0 / self.rpm)
        if self.tpm:
            self._tokens = AsyncLimiter(self.tpm, 60.0)

    async def acquire(self, tokens: int) -> None:
        """Wait for a request slot, then for `tokens` of the minute's token allowance (capped at tpm)."""
        if self._requests is not None:
            await self._requests.acquire()
        if self._tokens is not None:
            await self._tokens.acquire(min(max(tokens, 1), self.tpm))


class ProviderLimits:
    """A registry of limiters, one per (provider, rpm, tpm): Models that name the same provider and the
    same limits share one limiter. Pass your own to isolate runs; `DEFAULT_LIMITS` is process-wide."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, float | None, float | None], RateLimiter] = {}

    def get(self, provider: str, rpm: float | None, tpm: float | None) -> RateLimiter | None:
        if not rpm and not tpm:
            return None
        key = (provider, rpm, tpm)
        if key not in self._limiters:
            self._limiters[key] = RateLimiter(rpm, tpm)
        return self._limiters[key]


DEFAULT_LIMITS = ProviderLimits()
