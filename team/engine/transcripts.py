"""What each agent was told and what it answered: one JSON line per decision in
`runs/<id>/transcripts/<replica>.jsonl` — the rendered messages, every reply before parsing, the repair
turns (what was wrong, what was allowed), the parsed result, and the scripted fallback when there was one.
team.views.transcripts renders them for reading; a resumed run appends to the same files.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from team.models import Message

__all__ = ["TranscriptLog", "transcript_name", "messages_row"]


def transcript_name(replica: str) -> str:
    """A file stem for a replica: `engineer[2]` -> `engineer-2`."""
    return replica.replace("[", "-").replace("]", "")


class TranscriptLog:
    """Appends decisions to per-replica files (opened per write: a crash loses nothing, nothing to close)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def write(self, replica: str, row: dict[str, Any]) -> None:
        line = json.dumps(row, default=str, ensure_ascii=False) + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / f"{transcript_name(replica)}.jsonl", "a", encoding="utf-8") as f:
                f.write(line)


def messages_row(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]
