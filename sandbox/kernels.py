"""One set of CPU kernels for every job and every build, whatever the host's vector units.

PyTorch picks its CPU kernels by the host's widest vector instructions (AVX-512 here, AVX2 on many machines), and
MKL picks its own code path the same way; the sums come out in another order, so the same config and seed train
different weights on two hosts (measured on this AMD EPYC: 20 AdamW steps of a small Llama gave three different
weight digests under ATen's default, AVX2 and AVX-512 kernels). Every job's environment, the warm workers' and the
harness's own (base models are pre-trained in the harness) pin both to AVX2, which any x86-64 host of the last
decade has: on this host it costs nothing measurable (150 steps: 10.6 and 10.3 CPU-s under AVX2, 10.8 and 10.1
under AVX-512). MKL's fully cross-vendor mode (MKL_CBWR=COMPATIBLE) would cost about 55% more, so it is not used:
an Intel and an AMD host may still differ inside MKL. A variable the researcher sets wins; other architectures
(aarch64) get no pin.
"""

from __future__ import annotations

import os
import platform
import warnings
from collections.abc import Mapping
from functools import cache

__all__ = ["PIN", "kernel_env", "pin_harness", "check_harness_kernels"]

PIN = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}


@cache
def _has_avx2() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo") as fh:
            return any(line.startswith("flags") and " avx2" in line for line in fh)
    except OSError:
        return False


def kernel_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel variables a job gets: the pin, or what `environ` (the harness's) already sets."""
    environ = os.environ if environ is None else environ
    return {name: environ.get(name, value) for name, value in PIN.items()} if _has_avx2() else {}


def pin_harness() -> None:
    """Pin this process's own kernels (before torch runs its first operation; a variable already set stays)."""
    for name, value in kernel_env().items():
        os.environ.setdefault(name, value)


def check_harness_kernels() -> None:
    """Warn when this process's torch chose other kernels than the jobs' (it ran an operation before synthteam was
    imported): what it builds (a base model) would not match what another host builds."""
    want = kernel_env().get("ATEN_CPU_CAPABILITY")
    if not want:
        return
    import torch

    got = torch.backends.cpu.get_cpu_capability()
    if got.lower() != want.lower():
        warnings.warn(f"synthteam: this process's torch runs {got} kernels, not the jobs' {want.upper()} (torch ran "
                      f"before synthteam was imported): a base model built here will not match one built elsewhere",
                      stacklevel=2)
