"""One async Model seam over every backend: litellm (any provider or a local OpenAI-compatible server,
imported lazily), scripted role policies (offline), and recorded cassettes (record / replay).
"""

from team.models.base import Message, Model, Request, Response, Sampling, Usage, estimate_tokens
from team.models.scripted import ScriptedBackend

__all__ = [
    "Message",
    "Model",
    "Request",
    "Response",
    "Sampling",
    "Usage",
    "estimate_tokens",
    "ScriptedBackend",
]
