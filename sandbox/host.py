"""What a run's numbers depend on besides its code, task and seed: the libraries that train and score, and the host
that ran them. Every run's manifest.json holds `environment()`, and a comparison says whether its cells shared one.

Measured on one machine, the same config and seed give the same weights run after run; across machines they do not
(arith-lm pre-trained on two hosts: baseline 0.0586 on one, 0.0495 on another). PyTorch and MKL pick their CPU
kernels by the host's vector units (on one AMD EPYC, 20 AdamW steps of a small Llama gave three weight digests under
ATen's default, AVX2 and AVX-512 kernels), and a library release can change an initialisation. So a rerun that
differs from a published table first compares these.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["PACKAGES", "versions", "source", "cpu", "gpus", "environment", "other_checkout", "code_root"]

PACKAGES = ("synthteam", "torch", "transformers", "peft", "accelerate", "tokenizers", "safetensors", "inspect_ai",
            "numpy", "scipy", "pydantic", "litellm")
_VECTOR = ("avx512f", "avx2", "avx", "sse4_2", "asimd")  # widest first; asimd: aarch64's NEON


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def code_root() -> str:
    """The folder synthteam's own packages are imported from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@cache
def source() -> dict[str, Any] | None:
    """The git commit of synthteam's own source and whether tracked files differ from it (None: not a checkout)."""
    root = code_root()
    git = shutil.which("git")
    if git is None or not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        head = subprocess.run([git, "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        status = subprocess.run([git, "-C", root, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0 or status.returncode != 0:
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def other_checkout(cwd: str | None = None) -> str | None:
    """A synthteam checkout that `cwd` lies in but that is not the one imported (a git worktree or a second clone
    run with another checkout's installation): its root, else None. Jobs and the verifier import the installed
    synthteam whatever the working directory, so a study started there runs the other checkout's code."""
    here = os.path.realpath(cwd or os.getcwd())
    while True:
        project = os.path.join(here, "pyproject.toml")
        if os.path.exists(os.path.join(here, ".git")) and os.path.isfile(project):
            try:
                with open(project, "rb") as fh:
                    ours = tomllib.load(fh).get("project", {}).get("name") == "synthteam"
            except (OSError, tomllib.TOMLDecodeError):
                ours = False
            if ours:
                return None if here == os.path.realpath(code_root()) else here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


@cache
def cpu() -> dict[str, Any]:
    """The CPU's model name, its widest vector extension (what torch and MKL pick kernels by) and its cores."""
    model, flags = platform.processor() or None, set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and value.strip():
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "vector": next((v for v in _VECTOR if v in flags), None), "cores": os.cpu_count()}


@cache
def gpus() -> list[str]:
    """The GPUs' names from nvidia-smi (no torch, no CUDA context); [] without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def environment() -> dict[str, Any]:
    """Everything above, as a run's manifest.json holds it."""
    return {"source": source(), "versions": versions(), "python": platform.python_version(),
            "machine": platform.machine(), "cpu": cpu(), "gpus": gpus()}
