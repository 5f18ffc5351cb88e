"""Where jobs run: isolation (bubblewrap), resource limits, device slots, and executors (local, Ray).

`RayExecutor` is a lazy attribute so that importing sandbox never imports ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.errors import (
    BudgetExhausted,
    ConfigError,
    JobError,
    ModelError,
    ModelOutputError,
    SynthteamError,
)
from sandbox.jobs import (
    METRICS_FILE,
    Executor,
    Job,
    JobHandle,
    JobResult,
    JobStatus,
    Limits,
    Resources,
    on_cpu_clock,
)
from sandbox.local import LocalExecutor
from sandbox.orphans import Cleanup, cleanup_orphans
from sandbox.slots import DeviceSlots, Grant, charge_by
from sandbox.units import parse_duration, parse_size

if TYPE_CHECKING:
    from sandbox.ray_executor import RayExecutor

__all__ = [
    "Job", "JobHandle", "JobResult", "JobStatus", "Limits", "Resources", "Executor", "METRICS_FILE", "on_cpu_clock",
    "LocalExecutor", "RayExecutor", "cleanup_orphans", "Cleanup", "DeviceSlots", "Grant", "charge_by", "parse_duration", "parse_size",
    "SynthteamError", "ConfigError", "JobError", "ModelError", "ModelOutputError", "BudgetExhausted",
]


def __getattr__(name: str) -> Any:
    if name == "RayExecutor":
        from sandbox.ray_executor import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
