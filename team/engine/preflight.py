"""Checks before anything starts: a run that asks for devices or a cluster it cannot have, or for a model
server it cannot reach, fails with one line (exit 2) instead of waiting forever.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

from sandbox.errors import ConfigError

__all__ = ["check_devices", "check_cluster", "check_reachable"]


def check_devices(options: Any) -> None:
    """`--gpus N` needs N GPUs on this machine (a Ray cluster counts its own)."""
    if options.gpus < 0 or options.cpu_threads < 1:
        raise ConfigError("--gpus must be >= 0 and --threads >= 1")
    if options.gpus and options.executor == "local":
        from sandbox.slots import detect_gpus

        found = len(detect_gpus())
        if found < options.gpus:
            raise ConfigError(f"--gpus {options.gpus}: this machine has {found or 'no'} GPU{'' if found == 1 else 's'} "
                              "(nvidia-smi); a job would wait for one forever")


def check_cluster(options: Any, timeout: float = 5.0) -> None:
    """`--executor ray --address HOST:PORT` needs something listening there."""
    if options.executor != "ray" or not options.ray_address or options.ray_address == "auto":
        return
    address = options.ray_address.removeprefix("ray://")
    host, _, port = address.rpartition(":")
    try:
        check_reachable(host or "127.0.0.1", int(port), timeout)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"--address {options.ray_address}: no Ray cluster answers there ({_why(exc)})") from None


def check_reachable(host: str, port: int, timeout: float = 5.0) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def api_base_problem(api_base: str, timeout: float = 3.0) -> str | None:
    """Why an OpenAI-compatible server at `api_base` cannot be reached, or None."""
    url = urlparse(api_base)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        check_reachable(url.hostname or "127.0.0.1", port, timeout)
    except OSError as exc:
        return _why(exc)
    return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    return " ".join(str(exc).split()) or type(exc).__name__
