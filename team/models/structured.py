"""Structured output: parse a model's text into its pydantic output type (tolerating ```json fences),
and phrase the schema and validation errors as instructions a model can act on.
"""

from __future__ import annotations

import functools
import json
import re

from pydantic import BaseModel, ValidationError

from sandbox.errors import ModelOutputError

__all__ = ["parse_output", "strip_fences", "schema_instructions", "repair_prompt", "error_summary", "output_error",
           "json_schema"]

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


@functools.lru_cache(maxsize=512)
def json_schema(output_type: type[BaseModel]) -> dict:
    """The type's JSON schema, built once per type (pydantic rebuilds it on every call otherwise).
    Treat the result as read-only."""
    return output_type.model_json_schema()


def strip_fences(text: str) -> str:
    """The JSON inside the first ``` fence when there is one, else the text itself, stripped."""
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip()


def parse_output(text: str, output_type: type[BaseModel] | None) -> BaseModel | None:
    """Validate `text` as `output_type`; None when no type is expected. Raises pydantic ValidationError."""
    if output_type is None:
        return None
    return output_type.model_validate_json(strip_fences(text))


def error_summary(exc: ValidationError, limit: int = 5) -> str:
    """One line naming the first few problems: `verdict: Input should be 'accept' or 'reject'; ...`."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def schema_instructions(output_type: type[BaseModel]) -> str:
    """System-message text that asks for JSON matching the type's schema (for providers without
    native structured output)."""
    schema = json.dumps(json_schema(output_type), sort_keys=True)
    return (
        f"Reply with a single JSON object (no prose, no code fences) that validates against this "
        f"JSON schema for {output_type.__name__}:\n{schema}"
    )


def repair_prompt(exc: ValidationError) -> str:
    """The user turn that shows the model why its reply was rejected."""
    return (
        f"Your reply did not validate: {error_summary(exc)}. "
        "Reply again with only the corrected JSON object."
    )


def output_error(label: str, exc: ValidationError, turns: int) -> ModelOutputError:
    return ModelOutputError(f"{label}: reply invalid after {turns} repair turns: {error_summary(exc)}")
