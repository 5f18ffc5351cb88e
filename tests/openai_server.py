"""A real OpenAI chat-completions server on 127.0.0.1 for tests: scripted behaviours in a queue (a JSON
reply, an invalid reply, a 429, a 500, a reply slower than the client's timeout), then a `handler` hook (a body, a
(status, body) pair or a Behaviour; tests/personas.py has realistic ones); every received request body is
kept in `requests`. Runs in a daemon thread; use it as a context manager.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OpenAIServer", "Behaviour", "completion_body", "error_body"]

Handler = Callable[[dict], "dict | tuple[int, dict] | Behaviour"]


def completion_body(content: str, *, model: str = "test-model", prompt_tokens: int = 10,
                    completion_tokens: int | None = None, cached_tokens: int = 0) -> dict[str, Any]:
    """A chat.completion response body with usage (completion tokens default to len(content)/4)."""
    completion = completion_tokens if completion_tokens is not None else max(1, len(content) // 4)
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                  "total_tokens": prompt_tokens + completion,
                  "prompt_tokens_details": {"cached_tokens": cached_tokens}},
    }


@dataclass
class Behaviour:
    """One scripted answer: HTTP status, JSON body, extra headers, and a delay before answering."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error" if status >= 500 else "rate_limit",
                      "code": str(status)}}


error_body = _error_body


class OpenAIServer:
    """`with OpenAIServer() as server:` then point a client at `server.url` (ends in /v1)."""

    def __init__(self, handler: Handler | None = None):
        self.handler = handler
        self.queue: deque[Behaviour] = deque()
        self.requests: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_request_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- the queue ---------------------------------------------------------------------------------
    def reply(self, content: str, **usage: int) -> OpenAIServer:
        """Queue a 200 answer whose message content is `content` (JSON text or anything else)."""
        self.queue.append(Behaviour(body=completion_body(content, **usage)))
        return self

    def reply_json(self, obj: Any, **usage: int) -> OpenAIServer:
        return self.reply(json.dumps(obj), **usage)

    def fail(self, status: int, message: str = "scripted failure", retry_after: float | None = None) -> OpenAIServer:
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        self.queue.append(Behaviour(status, _error_body(status, message), headers))
        return self

    def rate_limit(self, retry_after: float = 0) -> OpenAIServer:
        return self.fail(429, "rate limit reached", retry_after=retry_after)

    def stall(self, seconds: float, content: str = "{}") -> OpenAIServer:
        """Queue an answer that only comes after `seconds` (to outlast a client timeout)."""
        self.queue.append(Behaviour(body=completion_body(content), delay=seconds))
        return self

    # -- serving -----------------------------------------------------------------------------------
    def _answer(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            self.requests.append(body)
            self.arrivals.append(time.monotonic())
            if self.queue:
                return self.queue.popleft()
        if self.handler is None:
            return Behaviour(500, _error_body(500, "no scripted behaviour left"))
        result = self.handler(body)
        if isinstance(result, Behaviour):  # a persona may answer late, or with an error status
            return result
        status, payload = result if isinstance(result, tuple) else (200, result)
        return Behaviour(status, payload)


def _make_request_handler(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class _RequestHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                return self._send(Behaviour(404, _error_body(404, f"no route {self.path}")))
            length = int(self.headers.get("content-length", 0))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._send(Behaviour(400, _error_body(400, "body is not JSON")))
            behaviour = server._answer(body)
            if behaviour.delay:
                time.sleep(behaviour.delay)  # this is the server's own thread, not the test's loop
            self._send(behaviour)

        def _send(self, behaviour: Behaviour) -> None:
            data = json.dumps(behaviour.body).encode()
            try:
                self.send_response(behaviour.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in behaviour.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    return _RequestHandler
