"""A job's work dir: laid out before start, its metrics file tailed while it runs, its logs' tails read.

Everything here treats the work dir as hostile: the job owns it and may plant symlinks, so files are
opened with O_NOFOLLOW and never written by the harness after the job starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path, PurePosixPath

from sandbox.errors import JobError
from sandbox.jobs import Job

__all__ = ["MetricsTail", "check_files", "prepare_workdir", "tail_text"]

_MAX_LINE = 1 << 20


def _safe_relative(name: str, job_id: str) -> PurePosixPath:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise JobError("bad_file", "submit", f"job file path must be relative and inside the work dir: {name!r}",
                       {"job_id": job_id})
    return rel


def check_files(job: Job) -> dict[str, PurePosixPath]:
    """Each job file's path, refused when it is absolute or climbs out of the work dir."""
    return {name: _safe_relative(name, job.job_id) for name in job.files}


def prepare_workdir(root: Path, job: Job) -> Path:
    """Create `root/<job_id>/` and place the job's files in it (blocking; run it in a thread)."""
    rels = check_files(job)
    workdir = root / job.job_id
    root.mkdir(parents=True, exist_ok=True)
    try:
        workdir.mkdir()
    except FileExistsError:
        raise JobError("duplicate_job", "submit", f"work dir already exists: {workdir}") from None
    for name, content in job.files.items():
        target = workdir / rels[name]
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else bytes(content)
        target.write_bytes(data)
    (workdir / ".tmp").mkdir(exist_ok=True)
    return workdir


def _read_from(path: Path, offset: int, limit: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as fh:
        if offset < 0:
            fh.seek(max(0, os.fstat(fd).st_size + offset))
        else:
            fh.seek(offset)
        return fh.read(limit)


def tail_text(path: Path, limit: int = 4000) -> str:
    return _read_from(path, -limit, limit).decode("utf-8", "replace")


class MetricsTail:
    """Follows a JSON-lines file: `poll()` reads new complete lines, `follow()` yields rows as they come."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []
        self._offset = 0
        self._partial = b""
        self._closed = False
        self._changed = asyncio.Event()

    def poll(self) -> int:
        data = _read_from(self.path, self._offset, 4 << 20)
        if not data:
            return 0
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()[-_MAX_LINE:]
        before = len(self.rows)
        for line in lines:
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict):
                    self.rows.append(row)
        if len(self.rows) > before:
            self._notify()
        return len(self.rows) - before

    def close(self) -> None:
        self.poll()
        self._closed = True
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self):
        seen = 0
        while True:
            while seen < len(self.rows):
                seen += 1
                yield self.rows[seen - 1]
            if self._closed:
                return
            await self._changed.wait()
