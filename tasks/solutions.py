"""Solutions are programs: a set of text files whose entry point is `train.py`, identified by a digest.

A task kind ships a starter (`tasks/starters/<kind>/`), written out with the task's knob defaults as the
constants at the top of train.py. Knob tuning is `set_constants`; any other change is a patch:

    {"files": {"train.py": "<whole new text>", "old.py": None}}     whole files (None deletes)
    {"diff": "--- a/train.py\\n+++ b/train.py\\n@@ -1,3 +1,3 @@\\n ..."}  a unified diff

or both (files first, then the diff). `apply_patch` is strict: context and removed lines must match
exactly (a hunk may sit at other line numbers than it says; the nearest exact match is used), paths stay
inside the solution, and train.py cannot be deleted. A patch that does not apply raises `PatchError`,
one line naming the file and the hunk.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from sandbox.errors import ConfigError
from tasks.patching import PatchError, apply_diff

__all__ = ["Solution", "PatchError", "ENTRY", "load_solution", "write_solution", "starter", "set_constants",
           "constants", "apply_patch", "STARTERS_DIR"]

ENTRY = "train.py"
STARTERS_DIR = Path(__file__).parent / "starters"
MAX_BYTES = 2 << 20  # a solution is code and small data files, not checkpoints
_SKIP_DIRS = {"__pycache__", ".git", "final_model", ".tmp", ".ipynb_checkpoints"}


def _check_path(path: str) -> str:
    rel = PurePosixPath(path)
    if not path or rel.is_absolute() or ".." in rel.parts or "\\" in path or str(rel) != path.strip("/"):
        raise PatchError(f"patch: {path!r}: paths must be relative and stay inside the solution")
    return str(rel)


class Solution:
    """Frozen: `files` maps a relative path to its text. Equal files, equal digest."""

    __slots__ = ("_files", "_digest")

    def __init__(self, files: Mapping[str, str]):
        checked = {_check_path(p): str(t) for p, t in files.items()}
        object.__setattr__(self, "_files", MappingProxyType(dict(sorted(checked.items()))))
        object.__setattr__(self, "_digest", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Solution is frozen")

    @property
    def files(self) -> Mapping[str, str]:
        return self._files

    @property
    def digest(self) -> str:
        """sha256 over the sorted paths and contents."""
        if self._digest is None:
            h = hashlib.sha256()
            for path, text in self._files.items():
                h.update(path.encode() + b"\0" + text.encode() + b"\0")
            object.__setattr__(self, "_digest", h.hexdigest())
        return self._digest

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Solution) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"Solution({len(self._files)} files, digest={self.digest[:12]})"

    def diff(self, parent: Solution) -> str:
        """A unified diff from `parent` to this solution (`apply_patch(parent, {"diff": d})` gives it back)."""
        out: list[str] = []
        for path in sorted(set(parent.files) | set(self.files)):
            old, new = parent.files.get(path), self.files.get(path)
            if old == new:
                continue
            out += _file_diff(path, old, new)
        return "".join(out)


def _lines(text: str | None) -> list[str]:
    if not text:
        return []
    lines = text.splitlines(keepends=True)
    if not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


CONTEXT = 3  # lines of context around each hunk, as `diff -u`


def _file_diff(path: str, old: str | None, new: str | None) -> list[str]:
    a = f"a/{path}" if old is not None else "/dev/null"
    b = f"b/{path}" if new is not None else "/dev/null"
    # Only the lines around the change are split and matched: what both texts share at each end is found
    # by comparing characters (C speed), then cut at line boundaries with `CONTEXT` + 1 lines to spare. A
    # change of constants in the 344-line train.py then takes ~130 µs instead of ~210 (LOG.md).
    shift, lo, hi_x, hi_y = 0, 0, len(old or ""), len(new or "")
    if old and new:
        lo, hi_x, hi_y = _window(old, new)
        shift = old.count("\n", 0, lo)
    x, y = _lines((old or "")[lo:hi_x]), _lines((new or "")[lo:hi_y])
    shortest = min(len(x), len(y))
    head = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), shortest)
    ends = enumerate(zip(reversed(x), reversed(y), strict=False))
    tail = next((i for i, (p, q) in ends if p != q or i >= shortest - head), shortest - head)
    start, cut = max(head - CONTEXT, 0), max(tail - CONTEXT, 0)
    out = list(difflib.unified_diff(x[start:len(x) - cut], y[start:len(y) - cut], a, b, n=CONTEXT))
    start += shift
    return [_shift(line, start) if line.startswith("@@") else line for line in out] if start else out


def _window(x: str, y: str) -> tuple[int, int, int]:
    """(lo, end in x, end in y): character offsets at line starts that leave out only lines both texts share
    at their start and at their end, with CONTEXT + 1 shared lines kept on each side of the change."""
    same = _shared_prefix(x, y)
    tail = _shared_suffix(x, y, min(len(x), len(y)) - same)
    lo = same
    for _ in range(CONTEXT + 2):  # back to the start of the line, then CONTEXT + 1 lines more
        lo = x.rfind("\n", 0, lo)
        if lo < 0:
            break
    lo += 1
    # Forward from the change's end, inside the shared tail: each step ends a line there.
    end, stop = len(x) - tail, len(x)
    for _ in range(CONTEXT + 2):
        nl = x.find("\n", end, stop)
        if nl < 0:
            end = stop
            break
        end = nl + 1  # nl lies in the shared tail, so `end` starts a line in both texts
    return lo, end, end + len(y) - len(x)


def _shared_prefix(x: str, y: str) -> int:
    """How many leading characters x and y share (a binary search over slice comparisons)."""
    lo, hi = 0, min(len(x), len(y))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[lo:mid] == y[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _shared_suffix(x: str, y: str, most: int) -> int:
    """How many trailing characters x and y share, at most `most` (so that it does not overlap the prefix)."""
    lo, hi, nx, ny = 0, most, len(x), len(y)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[nx - mid:nx - lo] == y[ny - mid:ny - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _shift(header: str, by: int) -> str:
    """A hunk header's line numbers moved down by `by` lines."""
    def move(m: re.Match) -> str:
        return f"{m.group(1)}{int(m.group(2)) + by}"
    return re.sub(r"([-+])(\d+)", move, header, count=2)


def load_solution(directory: Path | str) -> Solution:
    """The text files of `directory` (not __pycache__, .git or final_model/); ConfigError without train.py."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"{root}:1: not a directory (a solution is a folder with train.py)")
    if not (root / ENTRY).is_file():
        raise ConfigError(f"{root}:1: no {ENTRY} (a solution's entry point is {ENTRY}; "
                          f"`synthteam task starter TASK {root}` writes one)")
    files, total = {}, 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or path.is_symlink() or _SKIP_DIRS & set(rel.parts[:-1]) or path.suffix == ".pyc":
            continue
        raw = path.read_bytes()
        total += len(raw)
        if total > MAX_BYTES:
            raise ConfigError(f"{path}:1: the solution is over {MAX_BYTES >> 20} MiB (code and small data only)")
        try:
            files[rel.as_posix()] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path}:1: not a UTF-8 text file (a solution holds text files only)") from None
    return Solution(files)


def write_solution(solution: Solution, directory: Path | str) -> Path:
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for path, text in solution.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def starter(task) -> Solution:
    """The starter of `task`'s kind, its constants set to the task's knob defaults (an honest baseline)."""
    folder = STARTERS_DIR / task.kind
    files = {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts}
    allowed = constants(Solution(files))
    return set_constants(Solution(files), {k: v for k, v in task.defaults().items() if k.upper() in allowed})


def _constant_nodes(tree: ast.Module) -> dict[str, ast.Assign]:
    """Top-level `NAME = <literal>` assignments with an upper-case name: train.py's constants."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                try:
                    ast.literal_eval(node.value)
                except ValueError:
                    continue
                found[name] = node
    return found


_PARSE_LOCK = threading.RLock()


def parse_python(text: str) -> ast.Module:
    """ast.parse, safe beside other threads. CPython 3.11.7 keeps one AST-conversion depth counter per
    interpreter, so a parse in another thread (a traceback's caret anchors, a job thread) can make this one fail
    with "SystemError: AST constructor recursion depth mismatch" (cpython gh-106905); the parse itself was fine,
    so it is run again. Ours are serialised; the others cannot be, hence the retries."""
    for attempt in range(5):
        try:
            with _PARSE_LOCK:
                return ast.parse(text)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == 4:
                raise
    raise AssertionError("unreachable")


def _parse_entry(solution: Solution) -> tuple[str, dict[str, ast.Assign]]:
    """train.py's text and its constants' nodes (parsed once per distinct text: a parse costs ~8 ms)."""
    text = solution.files.get(ENTRY)
    if text is None:
        raise ConfigError(f"{ENTRY}:1: the solution has no {ENTRY}")
    return text, _entry_constants(text)


@functools.lru_cache(maxsize=256)
def _entry_constants(text: str) -> dict[str, ast.Assign]:
    try:
        return _constant_nodes(parse_python(text))
    except SyntaxError as exc:
        raise ConfigError(f"{ENTRY}:{exc.lineno or 1}: syntax error: {exc.msg}") from None


def constants(solution: Solution) -> dict[str, Any]:
    """The constants at the top of train.py and their values."""
    _, nodes = _parse_entry(solution)
    return {name: ast.literal_eval(node.value) for name, node in nodes.items()}


def set_constants(solution: Solution, config: Mapping[str, Any]) -> Solution:
    """train.py with its constants set from `config` (keys: knob names like `lr`, or `LR`).
    ValueError naming the allowed constants for an unknown key."""
    text, nodes = _parse_entry(solution)
    unknown = [k for k in config if k.upper() not in nodes]
    if unknown:
        raise ValueError(f"unknown constant(s) {', '.join(map(repr, unknown))}: train.py has {', '.join(nodes)}")
    lines = text.splitlines(keepends=True)
    edits = sorted(((nodes[k.upper()].value, v) for k, v in config.items()), key=lambda e: (-e[0].lineno, -e[0].col_offset))
    for value_node, value in edits:
        lines = _splice(lines, value_node, json.dumps(value) if isinstance(value, str) else repr(value))
    return Solution({**solution.files, ENTRY: "".join(lines)})


def _splice(lines: list[str], node: ast.expr, new: str) -> list[str]:
    """Replace the source of `node` (positions from ast, utf-8 byte columns) with `new`."""
    start, end = node.lineno - 1, node.end_lineno - 1
    head = lines[start].encode()[: node.col_offset].decode()
    tail = lines[end].encode()[node.end_col_offset:].decode()
    return lines[:start] + [head + new + tail] + lines[end + 1:]


def apply_patch(solution: Solution, patch: Mapping[str, Any]) -> Solution:
    """The solution with `patch` applied (whole files, then a unified diff); PatchError when it does not."""
    if not isinstance(patch, Mapping) or not patch or set(patch) - {"files", "diff"}:
        raise PatchError("patch: expected {\"files\": {path: text or null}} and/or {\"diff\": \"<unified diff>\"}")
    files = dict(solution.files)
    for path, text in dict(patch.get("files") or {}).items():
        path = _check_path(str(path))
        if text is None:
            if path not in files:
                raise PatchError(f"patch: {path}: cannot delete a file the solution does not have")
            del files[path]
        elif isinstance(text, str):
            files[path] = text
        else:
            raise PatchError(f"patch: {path}: file content must be text or null")
    if patch.get("diff"):
        files = apply_diff(files, str(patch["diff"]), _check_path)
    if ENTRY not in files:
        raise PatchError(f"patch: {ENTRY} cannot be deleted (it is the solution's entry point)")
    return Solution(files)
