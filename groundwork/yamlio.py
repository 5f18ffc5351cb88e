"""Load YAML files for validation, keeping line numbers, and turn pydantic errors into `FILE:LINE` lines.

Team files and task files share this loader so that every bad input reads the same way:
one line per problem, `FILE:LINE: what is wrong`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from groundwork.errors import ConfigError

__all__ = ["load_yaml", "line_of", "validate_model", "format_loc"]


def load_yaml(path: Path | str, text: str | bytes | None = None) -> Any:
    """Parse a YAML file into ruamel's commented maps (which remember line numbers).

    Raises ConfigError for unreadable files, bytes that are not UTF-8 text, syntax errors, duplicate
    keys, an empty file, and a top level that is not a mapping.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    path = Path(path)
    raw = _read_bytes(path) if text is None else text
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}:1: not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start+1]!r})") from None
    if "\x00" in raw:
        raise ConfigError(f"{path}:{raw[:raw.index(chr(0))].count(chr(10)) + 1}: not text (NUL byte)")
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(raw)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(exc.problem or exc.context or "syntax error").split())
        if "duplicate key" in str(exc):
            what = "duplicate key " + _dup_key(str(exc))
        raise ConfigError(f"{path}:{line}: YAML error: {what}") from None
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise ConfigError(f"{path}:1: YAML error: {' '.join(str(exc).split())[:200]}") from None
    if data is None:
        raise ConfigError(f"{path}:1: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:{_line(data)}: expected a mapping (key: value lines) at the top level, got "
                          f"{_what(data)}")
    return data


def _what(value: Any) -> str:
    """A YAML value's kind in the words of a YAML file, not Python's (CommentedSeq is a list)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    return "text" if isinstance(value, str) else f"a {type(value).__name__}"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}:1: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}:1: is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{path}:1: cannot read: {exc.strerror}") from None


def _dup_key(message: str) -> str:
    for line in message.splitlines():
        if "found duplicate key" in line:
            return line.split("found duplicate key", 1)[1].split(" with value")[0].strip()
    return ""


def _line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else 1


def line_of(data: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node of `loc` that the YAML tree knows (1 when unknown)."""
    node, line = data, _line(data)
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None and isinstance(node, dict) and key in node:
                line = lc.key(key)[0] + 1
            elif lc is not None and isinstance(node, list) and isinstance(key, int) and key < len(node):
                line = lc.item(key)[0] + 1
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def format_loc(loc: tuple[Any, ...]) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in loc]
    return ".".join(parts).replace(".[", "[")


def validate_model(model: type[BaseModel], data: Any, path: Path | str) -> BaseModel:
    """Validate `data` into `model`, raising ConfigError with every problem as `FILE:LINE: ...`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            where = format_loc(loc) or "file"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r}" if loc else "unknown key"
                where = format_loc(loc[:-1]) or "top level"
            problems.append(f"{path}:{line_of(data, loc)}: {where}: {msg}")
        raise ConfigError(problems) from None
