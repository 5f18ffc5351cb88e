"""Structured output: parse a model's text into its pydantic output type (tolerating ```json fences and
prose around the object), and phrase the schema, validation errors and broken rules as instructions a
model can act on in a repair turn.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from sandbox.errors import ModelOutputError

__all__ = ["parse_output", "strip_fences", "schema_instructions", "repair_prompt", "error_summary", "error_lines",
           "output_error", "json_schema"]

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


@functools.lru_cache(maxsize=512)
def json_schema(output_type: type[BaseModel]) -> dict:
    """The type's JSON schema, built once per type (pydantic rebuilds it on every call otherwise).
    Treat the result as read-only."""
    return output_type.model_json_schema()


def strip_fences(text: str) -> str:
    """The JSON object in a reply: inside the first ``` fence when there is one, else the first complete
    object in the text when prose surrounds it, else the text itself, stripped."""
    match = _FENCE.search(text)
    body = (match.group(1) if match else text).strip()
    start = body.find("{")
    if start < 0:
        return body
    try:
        _, end = _DECODER.raw_decode(body, start)
    except ValueError:
        return body
    return body[start:end]


def parse_output(text: str, output_type: type[BaseModel] | None) -> BaseModel | None:
    """Validate `text` as `output_type`; None when no type is expected. Raises pydantic ValidationError."""
    if output_type is None:
        return None
    return output_type.model_validate_json(strip_fences(text))


def error_lines(exc: ValidationError) -> tuple[str, ...]:
    """One `field: what is wrong` line per validation problem."""
    return tuple(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors())


def error_summary(exc: ValidationError, limit: int = 5) -> str:
    """One line naming the first few problems: `verdict: Input should be 'accept' or 'reject'; ...`."""
    lines = error_lines(exc)
    more = len(lines) - limit
    return "; ".join(lines[:limit]) + (f"; and {more} more" if more > 0 else "")


def schema_instructions(output_type: type[BaseModel]) -> str:
    """System-message text that asks for JSON matching the type's schema (for providers without
    native structured output)."""
    schema = json.dumps(json_schema(output_type), sort_keys=True)
    return (
        f"Reply with a single JSON object (no prose, no code fences) that validates against this "
        f"JSON schema for {output_type.__name__}:\n{schema}"
    )


def repair_prompt(problems: ValidationError | Sequence[str], kind: str = "schema") -> str:
    """The user turn that shows the model why its reply was not taken: `schema` problems (it did not
    validate) or `check` problems (it validated but breaks the task's rules; each line says what is
    allowed)."""
    if isinstance(problems, ValidationError):
        problems = error_lines(problems)
    if kind == "schema":
        return (f"Your reply did not validate: {'; '.join(problems[:5])}. "
                "Reply again with only the corrected JSON object.")
    listed = "\n".join(f"- {p}" for p in problems)
    return ("Your reply is valid JSON, but it cannot be acted on:\n" + listed +
            "\nReply again with only the corrected JSON object.")


def output_error(label: str, exc: ValidationError, turns: int, *, text: str = "", usage: object = None,
                 cost_usd: float = 0.0) -> ModelOutputError:
    return ModelOutputError(f"{label}: reply invalid after {turns} repair turns: {error_summary(exc)}", text=text,
                            problems=error_lines(exc), usage=usage, cost_usd=cost_usd)
