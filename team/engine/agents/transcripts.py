"""What each agent was told and what it answered: one JSON line per decision in
`runs/<id>/transcripts/<replica>.jsonl` — the rendered messages, every reply before parsing, the repair
turns (what was wrong, what was allowed), the parsed result, and the scripted fallback when there was one.
team.views.transcripts renders them for reading; a resumed run appends to the same files.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from team.models import Message

__all__ = ["TranscriptLog", "transcript_name", "messages_row"]


def transcript_name(replica: str) -> str:
    """A file stem for a replica: `engineer[2]` -> `engineer-2`."""
    return replica.replace("[", "-").replace("]", "")


class TranscriptLog:
    """Appends decisions to per-replica files, kept open and flushed after every line (a crash loses
    nothing written); they close with `close()` or when the log is collected."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._files: dict[str, IO[str]] = {}
        self._encode = json.JSONEncoder(default=str, ensure_ascii=False).encode
        weakref.finalize(self, _close_all, self._files)

    def write(self, replica: str, row: dict[str, Any]) -> None:
        line = self._encode(row) + "\n"
        with self._lock:
            f = self._files.get(replica)
            if f is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                f = self._files[replica] = open(self.folder / f"{transcript_name(replica)}.jsonl", "a",  # noqa: SIM115
                                                encoding="utf-8")
            f.write(line)
            f.flush()

    def close(self) -> None:
        with self._lock:
            _close_all(self._files)


def _close_all(files: dict[str, IO[str]]) -> None:
    for f in files.values():
        f.close()
    files.clear()


def messages_row(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]
