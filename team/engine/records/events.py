"""Logging: readable lines on the console through structlog, JSON lines into a run's events.jsonl.

`configure(console_level)` is called once at the CLI edge; `EventLog` is the append-only run log, whose
row kinds are declared in `team.engine.records.catalog`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from team.engine.records.catalog import DURABLE

__all__ = ["configure", "get_logger", "EventLog", "read_events"]


def configure(level: str = "info") -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context)


class EventLog:
    """Append-only JSON lines. Every row reaches the OS at once (one write() of the whole line, nothing
    held in a buffer), which is all a SIGKILL needs to lose nothing; rows that record finished work (a
    job, a merge, the result: the catalog's durable rows) are also fsynced, against a machine crash,
    without paying a disk sync on every model call. The fsync is the log's own thread's (group commit: one
    fsync covers every row written before it), so the run never waits on the disk; `close()` fsyncs what
    is left. Each row carries `ts`, `event`, and whatever the caller gives (run, agent, ...).
    """

    DURABLE = DURABLE  # the catalog's durable rows (team.engine.records.catalog)

    def __init__(self, path: Path, **context: Any):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.context = context
        self._lock = threading.Lock()
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._syncer = _Syncer(self._file.fileno())
        # Rows are encoded directly (the row is already a dict): a bound logger's processor chain and
        # print() added ~25 µs to every row, structlog's JSONRenderer, JSONEncoder.encode building its C
        # encoder anew for each row, and a text file's buffer a few µs more. Same bytes (ASCII JSON).
        self._encode = _row_encoder()
        self.count = 0
        self.observers: list[Callable[[dict[str, Any]], None]] = []  # each row is handed to them once written

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        row = {"ts": round(time.time(), 6), "event": event, **self.context, **fields}
        line = (self._encode(row) + "\n").encode()
        with self._lock:
            written = self._file.write(line)
            while written < len(line):  # a raw write may come back short (a signal): finish the line
                written += self._file.write(line[written:])
            self.count += 1
        if event in self.DURABLE:
            self._syncer.due()
        for observe in self.observers:
            observe(row)
        return row

    def close(self) -> None:
        self._syncer.stop()  # its last fsync is done before the file closes
        with self._lock:
            if self._syncer.pending:
                os.fsync(self._file.fileno())
            self._file.close()


class _Syncer:
    """A thread that fsyncs a file whenever durable rows were written since its last fsync."""

    def __init__(self, fd: int):
        self.fd, self.pending = fd, False
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def due(self) -> None:
        self.pending = True
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="events-fsync", daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            self.pending = False  # a row written from here on sets it again: the next round syncs it
            os.fsync(self.fd)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()


def _row_encoder() -> Callable[[dict[str, Any]], str]:
    """Compact JSON of a row, as `json.JSONEncoder(default=_jsonable, separators=(",", ":")).encode` writes
    it; the C encoder is built once (rows are never circular, so no cycle check)."""
    from json import encoder as json_encoder

    make = json_encoder.c_make_encoder
    if make is None:  # a Python without the C accelerator
        return json.JSONEncoder(default=_jsonable, separators=(",", ":")).encode
    encode = make(None, _jsonable, json_encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda row: "".join(encode(row, 0))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Rows of an events.jsonl; a torn last line (a crash mid-write) is skipped."""
    rows = []
    if not Path(path).exists():
        return rows
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
