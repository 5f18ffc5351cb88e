"""Cassettes of model calls: `Recorder` appends each call to a JSON-lines file keyed by a hash of the
canonical request (model, messages, output schema, sampling incl. seed); `ReplayBackend` serves them back,
strictly (a miss names the nearest recorded key and what differs) or falling back to a live model.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import ValidationError

from sandbox.errors import ConfigError, ModelError, ModelOutputError
from team.models.base import Model, Request, Response, Usage, describe_request
from team.models.structured import error_summary, json_schema, parse_output

__all__ = ["Recorder", "ReplayBackend", "canonical_request", "request_key"]

ReplayMode = Literal["strict", "then_live"]


def canonical_request(model: str, request: Request) -> dict[str, Any]:
    """The parts of a request that decide its reply; everything else (metadata, context) is left out."""
    schema = json_schema(request.output_type) if request.output_type is not None else None
    s = request.sampling
    return {
        "model": model,
        "messages": [[m.role, m.content] for m in request.messages],
        "schema": schema,
        "sampling": {"temperature": s.temperature, "max_tokens": s.max_tokens, "seed": s.seed},
    }


def _key_of(canonical: dict[str, Any]) -> str:
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def request_key(model: str, request: Request) -> str:
    return _key_of(canonical_request(model, request))


class Recorder:
    """Wraps any Model and appends one cassette line per completed call (one write + flush per line,
    under a lock, so concurrent calls never interleave). The file stays open until `close()`."""

    def __init__(self, inner: Model, path: Path | str):
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    async def complete(self, request: Request) -> Response:
        response = await self.inner.complete(request)
        self._append(_cassette_line(self.name, request, response))
        return response

    def _append(self, line: str) -> None:
        with self._lock:
            if self._file is None or self._file.closed:
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()


def _cassette_line(model: str, request: Request, response: Response) -> str:
    canonical = canonical_request(model, request)
    meta = {k: v for k, v in request.metadata.items() if isinstance(v, str | int | float | bool)}
    row = {
        "key": _key_of(canonical),
        "request": canonical,
        "metadata": meta,
        "response": {
            "text": response.text,
            "usage": [response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.cached_tokens],
            "cost_usd": response.cost_usd,
            "model": response.model,
        },
    }
    return json.dumps(row, ensure_ascii=False) + "\n"


def _load_cassette(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigError(f"{path}: cassette not found")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["key"], row["request"]["model"], row["response"]["text"]  # noqa: B018 - shape check
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{lineno}: not a cassette line ({exc})") from None
        rows.append(row)
    return rows


class ReplayBackend:
    """Serves recorded replies by request key. Repeated identical requests get their recordings in order
    (the last one repeats). Recorded usage and cost are reported again so budgets behave the same."""

    backend = "replay"

    def __init__(self, path: Path | str, mode: ReplayMode = "strict", live: Model | None = None,
                 model: str | None = None):
        if mode not in ("strict", "then_live"):
            raise ConfigError(f"replay mode must be 'strict' or 'then_live', not {mode!r}")
        if mode == "then_live" and live is None:
            raise ConfigError("replay mode 'then_live' needs a live model to fall back to")
        self.path, self.mode, self.live = Path(path), mode, live
        self.rows = _load_cassette(self.path)
        self._queues: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        for row in self.rows:
            self._queues[row["key"]].append(row)
        self.models = [model] if model else sorted({r["request"]["model"] for r in self.rows})
        self.name = model or (live.name if live else f"replay:{self.path.name}")

    async def complete(self, request: Request) -> Response:
        start = time.perf_counter()
        row = self._lookup(request)
        if row is None:
            if self.mode == "then_live":
                return await self.live.complete(request)
            raise ModelError(self._miss_message(request))
        return _replayed(row, request, time.perf_counter() - start)

    def _lookup(self, request: Request) -> dict[str, Any] | None:
        for model in self.models or [self.name]:
            queue = self._queues.get(request_key(model, request))
            if queue:
                return queue.popleft() if len(queue) > 1 else queue[0]
        return None

    def _miss_message(self, request: Request) -> str:
        model = self.models[0] if self.models else self.name
        wanted = canonical_request(model, request)
        label = f"{describe_request(request)}: no recording for key {_key_of(wanted)[:12]}"
        if not self.rows:
            return f"{label}; cassette {self.path} is empty"
        nearest = max(self.rows, key=lambda row: _similarity(wanted, row["request"]))
        diff = ", ".join(_differences(wanted, nearest["request"])) or "nothing visible"
        return f"{label} in {self.path}; nearest {nearest['key'][:12]} differs in {diff}"


def _replayed(row: dict[str, Any], request: Request, latency: float) -> Response:
    rec = row["response"]
    try:
        output = parse_output(rec["text"], request.output_type)
    except ValidationError as exc:
        raise ModelOutputError(f"{describe_request(request)}: recorded reply no longer validates: "
                               f"{error_summary(exc)}") from None
    return Response(
        output=output,
        text=rec["text"],
        usage=Usage(*rec.get("usage", (0, 0, 0))),
        cost_usd=float(rec.get("cost_usd", 0.0)),
        latency_s=latency,
        model=rec.get("model", row["request"]["model"]),
        backend="replay",
    )


def _similarity(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, ...]:
    """Rank recordings: matching whole fields, then identical leading messages, then the shared prefix
    of the first message that differs, then a rough text similarity."""
    fields = sum(a[f] == b[f] for f in ("model", "schema", "sampling"))
    same = 0
    for ma, mb in zip(a["messages"], b["messages"], strict=False):
        if ma != mb:
            prefix = len(os.path.commonprefix([ma[1], mb[1]]))
            return fields, same, prefix, difflib.SequenceMatcher(None, ma[1], mb[1]).quick_ratio()
        same += 1
    return fields, same, 0, -abs(len(a["messages"]) - len(b["messages"]))


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    diffs = [f for f in ("model", "schema") if a[f] != b[f]]
    diffs += [f"sampling.{k}" for k in a["sampling"] if a["sampling"][k] != b["sampling"].get(k)]
    if len(a["messages"]) != len(b["messages"]):
        diffs.append(f"message count ({len(a['messages'])} vs {len(b['messages'])} recorded)")
    diffs += [f"messages[{i}]" for i, (ma, mb) in enumerate(zip(a["messages"], b["messages"], strict=False))
              if ma != mb]
    return diffs
