"""Checks before anything starts: a run that asks for devices or a cluster it cannot have, or for a model
server it cannot reach, fails with one line (exit 2) instead of waiting forever.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from groundwork.errors import ConfigError

__all__ = ["check_devices", "check_clock", "check_cluster", "check_files", "check_isolation", "check_reachable", "api_base_problem", "check_models"]


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


def check_files(options: Any) -> None:
    """The files a run reads from outside its folder exist: `--replay FILE` (a cassette to serve calls from)
    and the folder `--record FILE` writes into."""
    from pathlib import Path

    if options.replay and not Path(options.replay).is_file():
        raise ConfigError(f"--replay {options.replay}: no such cassette (record one with `--record FILE`)")
    if options.record and not Path(options.record).absolute().parent.is_dir():
        raise ConfigError(f"--record {options.record}: its folder {Path(options.record).absolute().parent} does not exist")


def check_isolation(options: Any, routes: Mapping[str, Any]) -> None:
    """Code an LLM writes runs only inside bubblewrap, unless the user accepts the risk (`--no-isolation`):
    with the scripted backend the programs are synthteam's own, with an LLM they are arbitrary code.
    `routes`: agent -> where its model calls go (team.engine.run.options.model_routes)."""
    if options.isolation != "auto" or options.executor != "local":
        return  # asked for by name (bwrap fails loudly when it cannot run); Ray workers isolate their own jobs
    llms = sorted({route.spec for route in routes.values()} - {"scripted"})
    if not llms:
        return
    from sandbox.local import bwrap_problem

    why = bwrap_problem()
    if why:
        raise ConfigError(f"model {llms[0]} writes code that runs as jobs, and bubblewrap is {why}: install it "
                          "(apt-get install -y bubblewrap), or pass --no-isolation to run model-written code "
                          "unsandboxed at your own risk")


def check_clock(options: Any) -> str:
    """The clock CPU jobs are limited and charged by: `cpu` (the CPU-seconds of the job's cgroup: the same
    compute alone and beside busy neighbours) where the cgroups count it, else `wall`. GPU jobs and jobs on Ray
    are on the wall clock; `--clock cpu` where it cannot hold is refused."""
    asked = getattr(options, "clock", "auto") or "auto"
    if asked not in ("auto", "cpu", "wall"):
        raise ConfigError(f"--clock {asked}: choose cpu, wall or auto")
    if asked == "wall":
        return "wall"
    from sandbox.local import cpu_clock_problem

    why = ("GPU jobs run on the wall clock" if options.gpus else
           "jobs on Ray run on the wall clock" if options.executor != "local" else cpu_clock_problem())
    if why and asked == "cpu":
        raise ConfigError(f"--clock cpu: {why}; use --clock wall")
    return "wall" if why else "cpu"


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
    try:
        url = urlparse(api_base)
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError as exc:
        return f"not a URL: {exc}"
    if url.scheme not in ("http", "https") or not url.hostname:
        return "not an http(s) URL such as http://127.0.0.1:8000/v1"
    try:
        check_reachable(url.hostname, port, timeout)
    except OSError as exc:
        return _why(exc)
    return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    return " ".join(str(exc).split()) or type(exc).__name__


def check_models(options: Any, team: Any, routes: Mapping[str, Any], timeout: float = 3.0) -> None:
    """Every LLM agent's server answers and its key variable is set: one line for what is not, before
    any call (else each decision would fail its attempts and fall back, and the run would look fine).
    `routes`: agent -> where its model calls go (team.engine.run.options.model_routes)."""
    if options.replay:
        return  # a cassette answers
    unset: dict[str, list[str]] = {}
    servers: dict[str, list[str]] = {}
    keyless: dict[str, list[str]] = {}  # a provider's own endpoint, its key from the provider's variable
    for name, route in routes.items():
        if route.spec == "scripted" or route.spec.startswith("replay:"):
            continue
        if route.api_key_env and not os.environ.get(route.api_key_env):
            unset.setdefault(route.api_key_env, []).append(name)
        if route.api_base:
            servers.setdefault(route.api_base, []).append(name)
        elif not route.api_key_env:
            keyless.setdefault(route.spec, []).append(name)
    problems = [f"{_where(team)}: api_key_env {var} (agents {', '.join(names)}) is not set in the environment"
                for var, names in unset.items()]
    problems += [p for spec, names in keyless.items() if (p := _provider_key_problem(spec, names))]
    for base, names in servers.items():
        why = api_base_problem(base, timeout)
        if why:
            flag = "--api-base" if options.api_base == base else f"api_base of agents {', '.join(names)}:"
            problems.append(f"{flag} {base}: no model server answers there ({why})")
    if problems:
        raise ConfigError(problems)


def _provider_key_problem(spec: str, agents: list[str]) -> str | None:
    """The provider's key variable (litellm knows its name) when it is unset, for a model on its own endpoint."""
    from team.models.litellm_backend import _import_litellm

    try:
        env = _import_litellm().validate_environment(model=spec)
    except Exception:  # noqa: BLE001 - a provider litellm cannot tell about: the first call will say
        return None
    keys = [k for k in env.get("missing_keys") or [] if k.endswith("_KEY")]  # a base URL may have a default
    if env.get("keys_in_environment") or not keys:
        return None
    return (f"model {spec} (agents {', '.join(agents)}): {', '.join(keys)} is not set in the environment "
            f"(set it, name another variable with api_key_env, or point api_base at a server)")


def _where(team: Any) -> str:
    return f"{team.path}:1" if getattr(team, "path", None) else f"team {team.name}"
