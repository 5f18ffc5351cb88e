"""A strict unified-diff applier for solutions: every context and removed line must match exactly.

A hunk is tried at the line it names first, then at the nearest offset where its old lines match
exactly (no fuzz: a changed context line is an error). `--- /dev/null` creates a file, `+++ /dev/null`
deletes one; `a/` and `b/` prefixes are stripped. Errors are one `PatchError` line naming file and hunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.errors import ConfigError

__all__ = ["PatchError", "apply_diff", "FileDiff", "parse_diff"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NO_EOL = "\\ No newline at end of file"


class PatchError(ConfigError):
    """A patch that cannot be applied to its parent (the author's fault: fed back to them)."""


@dataclass
class Hunk:
    header: str
    old_start: int
    old: list[str] = field(default_factory=list)  # lines without their "\n"
    new: list[str] = field(default_factory=list)
    old_eol: bool = True  # False: the old file's last line had no newline
    new_eol: bool = True


@dataclass
class FileDiff:
    old_path: str | None  # None: a new file
    new_path: str | None  # None: the file is deleted
    hunks: list[Hunk] = field(default_factory=list)


def _strip(name: str) -> str | None:
    name = name.split("\t")[0].strip()
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse_diff(text: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            files.append(FileDiff(_strip(lines[i][4:]), _strip(lines[i + 1][4:])))
            i += 2
        elif lines[i].startswith("@@"):
            if not files:
                raise PatchError(f"patch: diff line {i + 1}: a hunk before any '--- a/FILE' / '+++ b/FILE' header")
            i = _parse_hunk(lines, i, files[-1])
        else:
            i += 1  # "diff --git", "index ...", commentary: ignored
    if not files:
        raise PatchError("patch: the diff has no '--- a/FILE' / '+++ b/FILE' header")
    return files


def _parse_hunk(lines: list[str], i: int, fd: FileDiff) -> int:
    m = _HUNK.match(lines[i])
    name = fd.new_path or fd.old_path
    if not m:
        raise PatchError(f"patch: {name}: bad hunk header {lines[i]!r}")
    old_n = int(m.group(2)) if m.group(2) is not None else 1
    new_n = int(m.group(4)) if m.group(4) is not None else 1
    hunk = Hunk(lines[i], int(m.group(1)))
    i += 1
    while i < len(lines) and (len(hunk.old) < old_n or len(hunk.new) < new_n):
        line = lines[i]
        tag, body = (line[:1], line[1:]) if line else (" ", "")
        if tag == " ":
            hunk.old.append(body)
            hunk.new.append(body)
        elif tag == "-":
            hunk.old.append(body)
        elif tag == "+":
            hunk.new.append(body)
        elif line == _NO_EOL:
            pass
        else:
            raise PatchError(f"patch: {name}: hunk {len(fd.hunks) + 1} ({hunk.header}) ends early at {line!r}")
        i += 1
        if i < len(lines) and lines[i] == _NO_EOL:
            hunk.old_eol = hunk.old_eol and tag == "+"
            hunk.new_eol = hunk.new_eol and tag == "-"
            i += 1
    if len(hunk.old) != old_n or len(hunk.new) != new_n:
        raise PatchError(f"patch: {name}: hunk {len(fd.hunks) + 1} ({hunk.header}) has "
                         f"{len(hunk.old)}/{len(hunk.new)} old/new lines, its header says {old_n}/{new_n}")
    fd.hunks.append(hunk)
    return i


def _find(lines: list[str], old: list[str], start: int) -> int | None:
    """Where `old` matches exactly: at `start` first, then at the nearest offset."""
    if not old:
        return min(max(start, 0), len(lines))
    for delta in range(0, len(lines) + 1):
        for pos in (start - delta, start + delta) if delta else (start,):
            if 0 <= pos <= len(lines) - len(old) and lines[pos:pos + len(old)] == old:
                return pos
    return None


def _apply_file(text: str | None, fd: FileDiff, name: str) -> str | None:
    lines = (text or "").splitlines()
    eol = text is None or text == "" or text.endswith("\n")
    shift = 0
    for n, hunk in enumerate(fd.hunks, 1):
        start = hunk.old_start - 1 + shift if hunk.old else hunk.old_start + shift
        pos = _find(lines, hunk.old, start)
        if pos is None:
            raise PatchError(f"patch: {name}: hunk {n} ({hunk.header}) does not apply: its context or removed "
                             f"lines are not in the file")
        if pos + len(hunk.old) == len(lines):
            eol = hunk.new_eol
        lines[pos:pos + len(hunk.old)] = hunk.new
        shift += len(hunk.new) - len(hunk.old)
    if fd.new_path is None:
        if lines:
            raise PatchError(f"patch: {name}: deleting the file, but the diff leaves {len(lines)} lines in it")
        return None
    return "\n".join(lines) + ("\n" if lines and eol else "")


def apply_diff(files: dict[str, str], text: str, check: Callable[[str], str]) -> dict[str, str]:
    """`files` with the unified diff `text` applied (a new dict)."""
    out = dict(files)
    for fd in parse_diff(text):
        old = check(fd.old_path) if fd.old_path else None
        new = check(fd.new_path) if fd.new_path else None
        name = new or old or "?"
        if old is None and new in out:
            raise PatchError(f"patch: {name}: the diff creates it, but the solution already has it")
        if old is not None and old not in out:
            raise PatchError(f"patch: {old}: no such file in the solution (it has {', '.join(sorted(out))})")
        result = _apply_file(out.get(old) if old else None, fd, name)
        if old is not None:
            del out[old]
        if result is not None:
            out[new] = result
    return out
