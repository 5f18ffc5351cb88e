"""One async Model seam over every backend: litellm (any provider or a local OpenAI-compatible server,
imported lazily), scripted role policies (offline), and recorded cassettes (record / replay).
"""

from team.models.base import (
    Message,
    Model,
    Request,
    Response,
    Sampling,
    Usage,
    describe_request,
    estimate_tokens,
)
from team.models.factory import make_model
from team.models.limits import ProviderLimits, provider_of
from team.models.pricing import Price
from team.models.replay import Recorder, ReplayBackend, canonical_request, request_key
from team.models.scripted import ScriptedBackend
from team.models.structured import parse_output

__all__ = [
    "Message",
    "Model",
    "Request",
    "Response",
    "Sampling",
    "Usage",
    "describe_request",
    "estimate_tokens",
    "make_model",
    "ProviderLimits",
    "provider_of",
    "Price",
    "Recorder",
    "ReplayBackend",
    "canonical_request",
    "request_key",
    "ScriptedBackend",
    "parse_output",
]
