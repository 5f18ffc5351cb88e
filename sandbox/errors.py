"""The exception tree, re-exported: it lives in `groundwork.errors`, under every layer (the same classes,
so `except sandbox.errors.ConfigError` and `except groundwork.errors.ConfigError` catch the same errors)."""

from groundwork.errors import (
    BudgetExhausted,
    ConfigError,
    JobError,
    ModelError,
    ModelOutputError,
    SynthteamError,
)

__all__ = ["SynthteamError", "ConfigError", "JobError", "ModelError", "ModelOutputError", "BudgetExhausted"]
