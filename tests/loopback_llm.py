"""A loopback LLM server for tests: OpenAI chat completions and Anthropic Messages (+ Message Batches).

Real client libraries (``openai``, ``anthropic``) talk to it over HTTP on 127.0.0.1, so tests exercise the
same code paths as production, including the SDKs' error classes and header handling. Each request is
answered by a *handler* you script, with fault injection for everything a real provider does wrong.

Usage::

    from loopback_llm import LoopbackLLM, Reply, error

    def handler(call):                      # call: Call (kind, body, last_user, index, ...)
        if call.index == 0:
            return error(429, retry_after=0.2)  # first request rate-limited
        return "hello " + call.last_user     # a str becomes a normal reply in the right API format

    with LoopbackLLM(handler) as server:
        backend = OpenAICompatBackend("m", base_url=server.openai_base_url, api_key="x")
        ...
        assert len(server.requests) == 2 and server.max_in_flight == 1

Handler return values:
    str                  a normal completion (finish stop / end_turn) in the API format of the call
    Reply(...)           full control: status, JSON body or raw bytes, headers, delay_s, truncate
    ok(text, finish=...) a completion with a chosen finish reason, refusal, usage, or empty/None content
    error(status, retry_after=None)   an error status with the provider's error JSON body
    malformed()          HTTP 200 whose body is not JSON;  truncated(): a body cut off mid-stream
    slow(delay_s, then)  answer ``then`` after sleeping (use a delay above the client's timeout)
    trickle(every_s, then)  send the headers, then the body one byte every ``every_s`` seconds (no HTTP
                         read timeout ever fires); stall(): the headers, then silence until the client leaves
    BatchOutcome("expired" | "canceled" | "errored")  the fate of one item of a Message Batch

Batch items are answered by the handler with ``call.kind == "anthropic.batch_item"``; a batch reports
``in_progress`` for ``batch_polls_in_progress`` retrieves, then ``ended`` with a results URL.
``server.fail_next("anthropic.batch_get", error(500), times=3)`` injects faults into batch control calls.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "BatchOutcome",
    "Call",
    "LoopbackLLM",
    "Reply",
    "error",
    "malformed",
    "ok",
    "slow",
    "stall",
    "trickle",
    "truncated",
]


@dataclass
class Call:
    """One request the server received.

    kind: "openai.chat", "anthropic.messages", "anthropic.batch_create", "anthropic.batch_get",
        "anthropic.batch_results" or "anthropic.batch_item" (one item inside a batch, not an HTTP request).
    index: order among calls handed to the handler (0-based), across kinds.
    """

    kind: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    index: int = 0

    @property
    def last_user(self) -> str:
        msgs = self.body.get("messages") or []
        for m in reversed(msgs):
            if m.get("role") == "user":
                c = m.get("content")
                return c if isinstance(c, str) else "".join(p.get("text", "") for p in c)
        return ""

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))


@dataclass
class Reply:
    """What the server sends back. ``body`` is JSON-encoded unless it is bytes."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    truncate: bool = False  # announce a longer Content-Length than sent, then drop the connection
    trickle_s: float | None = None  # after the headers, one body byte per trickle_s seconds
    stall_s: float | None = None  # after the headers, send nothing for stall_s seconds, then the body
    completion: dict[str, Any] | None = None  # for ok(): rendered per API format at send time


@dataclass
class BatchOutcome:
    kind: str  # "expired" | "canceled" | "errored"
    message: str = "scripted failure"


def ok(
    text: str | None = "",
    *,
    finish: str = "stop",
    refusal: str | None = None,
    input_tokens: int = 7,
    output_tokens: int | None = None,
    delay_s: float = 0.0,
) -> Reply:
    """A completion. ``finish`` is given in OpenAI words (stop, length, content_filter) or Anthropic words
    (end_turn, max_tokens, refusal, stop_sequence); each is translated for the other API."""
    out = output_tokens if output_tokens is not None else len((text or "").split())
    return Reply(
        delay_s=delay_s,
        completion={"text": text, "finish": finish, "refusal": refusal, "in": input_tokens, "out": out},
    )


def error(status: int, *, retry_after: float | None = None, message: str = "scripted error") -> Reply:
    headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
    etype = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    body = {"type": "error", "error": {"type": etype, "message": message}}
    return Reply(status=status, body=body, headers=headers)


def malformed() -> Reply:
    return Reply(status=200, body=b'{"id": "x", "choices": [ {not json', headers={})


def truncated() -> Reply:
    return Reply(status=200, body=b'{"id": "chatcmpl-1", "object": "chat.completion", "choi', truncate=True)


def slow(delay_s: float, then: Reply | str = "late") -> Reply:
    reply = then if isinstance(then, Reply) else ok(then)
    reply.delay_s = delay_s
    return reply


def trickle(every_s: float, then: Reply | str = "eventually") -> Reply:
    reply = then if isinstance(then, Reply) else ok(then)
    reply.trickle_s = every_s
    return reply


def stall(seconds: float = 3600.0, then: Reply | str = "never") -> Reply:
    reply = then if isinstance(then, Reply) else ok(then)
    reply.stall_s = seconds
    return reply


_TO_ANTHROPIC = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}
_TO_OPENAI = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}

Handler = Callable[[Call], "str | Reply | BatchOutcome"]


def _openai_body(model: str, c: dict[str, Any]) -> dict[str, Any]:
    finish = _TO_OPENAI.get(c["finish"], c["finish"])
    message = {"role": "assistant", "content": c["text"], "refusal": c["refusal"]}
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": c["in"],
            "completion_tokens": c["out"],
            "total_tokens": c["in"] + c["out"],
        },
    }


def _anthropic_body(model: str, c: dict[str, Any]) -> dict[str, Any]:
    stop = "refusal" if c["refusal"] else _TO_ANTHROPIC.get(c["finish"], c["finish"])
    content = [] if c["text"] is None else [{"type": "text", "text": c["text"]}]
    return {
        "id": "msg_loopback",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": c["in"], "output_tokens": c["out"]},
    }


class _QuietServer(ThreadingHTTPServer):
    """A client that vanished (killed, timed out) is expected here: not worth a traceback on stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackLLM:
    """Context manager running the server in a background thread on 127.0.0.1 (a free port).

    Attributes:
        openai_base_url: pass as ``base_url`` to ``openai.AsyncOpenAI`` / OpenAICompatBackend.
        anthropic_base_url: pass as ``base_url`` to ``anthropic.AsyncAnthropic`` / AnthropicBackend.
        requests: every Call handed to the handler, in arrival order (batch items included).
        http_requests: count of HTTP requests received (batch items excluded).
        max_in_flight: most HTTP requests being handled at the same time.
        batches: batch id -> list of (custom_id, params) submitted.
    """

    def __init__(self, handler: Handler | None = None, *, batch_polls_in_progress: int = 1) -> None:
        self.handler: Handler = handler or (lambda call: "echo: " + call.last_user)
        self.batch_polls_in_progress = batch_polls_in_progress
        self.requests: list[Call] = []
        self.http_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.batches: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._batch_polls: dict[str, int] = {}
        self._faults: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> LoopbackLLM:
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like real providers
            # Headers and body go out in two writes; with Nagle on, the client's delayed ACK adds ~40 ms
            # to every keep-alive response.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
                return None

            def do_POST(self) -> None:
                owner._serve(self, "POST")

            def do_GET(self) -> None:
                owner._serve(self, "GET")

        self._server = _QuietServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.request_queue_size = 512  # the concurrency benchmark opens up to 128 connections
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None, "use LoopbackLLM as a context manager"
        return int(self._server.server_address[1])

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, kind: str, reply: Reply, times: int = 1) -> None:
        """Answer the next ``times`` batch control requests of ``kind`` ("anthropic.batch_create",
        "anthropic.batch_get", "anthropic.batch_results") with ``reply`` (e.g. ``error(500)``)."""
        with self._lock:
            self._faults.setdefault(kind, []).extend([reply] * times)

    def _fault(self, kind: str) -> Reply | None:
        with self._lock:
            queue = self._faults.get(kind)
            return queue.pop(0) if queue else None

    def calls(self, kind: str) -> list[Call]:
        return [c for c in self.requests if c.kind == kind]

    # -- dispatch ----------------------------------------------------------------------------------
    def _record(self, kind: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> Call:
        with self._lock:
            call = Call(kind, path, body, headers, index=len(self.requests))
            self.requests.append(call)
        return call

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.http_requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            length = int(h.headers.get("content-length") or 0)
            raw = h.rfile.read(length) if length else b""
            if len(raw) < length:  # the client vanished mid-request (killed): nothing to answer
                h.close_connection = True
                return
            body = json.loads(raw) if raw else {}
            headers = {k.lower(): v for k, v in h.headers.items()}
            path = h.path.split("?", 1)[0]
            reply = self._route(method, path, body, headers)
            self._send(h, reply)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _route(self, method: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        if method == "POST" and path.endswith("/chat/completions"):
            return self._complete("openai.chat", path, body, headers)
        if method == "POST" and path == "/v1/messages":
            return self._complete("anthropic.messages", path, body, headers)
        if method == "POST" and path == "/v1/messages/batches":
            return self._batch_create(body, headers)
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) == 4 and parts[:3] == ["v1", "messages", "batches"]:
            return self._batch_get(parts[3], headers)
        if method == "GET" and len(parts) == 5 and parts[4] == "results":
            return self._batch_results(parts[3], headers)
        return error(404, message=f"loopback: no route {method} {path}")

    def _complete(self, kind: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        call = self._record(kind, path, body, headers)
        out = self.handler(call)
        if isinstance(out, str):
            out = ok(out)
        if not isinstance(out, Reply):
            raise TypeError(f"handler returned {type(out).__name__} for {kind}")
        if out.completion is not None:
            render = _openai_body if kind == "openai.chat" else _anthropic_body
            out = Reply(
                out.status,
                render(call.model, out.completion),
                out.headers,
                out.delay_s,
                out.truncate,
                trickle_s=out.trickle_s,
                stall_s=out.stall_s,
            )
        return out

    # -- Message Batches ---------------------------------------------------------------------------
    def _batch_json(self, batch_id: str) -> dict[str, Any]:
        items = self.batches[batch_id]
        ended = self._batch_polls.get(batch_id, 0) > self.batch_polls_in_progress
        n = len(items)
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else n,
                "succeeded": n if ended else 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": "2026-11-23T00:00:00Z",
            "expires_at": "2026-11-24T00:00:00Z",
            "ended_at": "2026-11-23T00:01:00Z" if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.anthropic_base_url}/v1/messages/batches/{batch_id}/results"
            if ended
            else None,
        }

    def _batch_create(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        self._record("anthropic.batch_create", "/v1/messages/batches", body, headers)
        if fault := self._fault("anthropic.batch_create"):
            return fault
        with self._lock:
            batch_id = f"msgbatch_{len(self.batches):04d}"
            self.batches[batch_id] = [(r["custom_id"], r["params"]) for r in body.get("requests", [])]
        return Reply(body=self._batch_json(batch_id))

    def _batch_get(self, batch_id: str, headers: dict[str, str]) -> Reply:
        self._record("anthropic.batch_get", f"/v1/messages/batches/{batch_id}", {}, headers)
        if fault := self._fault("anthropic.batch_get"):
            return fault
        if batch_id not in self.batches:
            return error(404, message=f"no batch {batch_id}")
        with self._lock:
            self._batch_polls[batch_id] = self._batch_polls.get(batch_id, 0) + 1
        return Reply(body=self._batch_json(batch_id))

    def _batch_results(self, batch_id: str, headers: dict[str, str]) -> Reply:
        self._record("anthropic.batch_results", f"/v1/messages/batches/{batch_id}/results", {}, headers)
        if fault := self._fault("anthropic.batch_results"):
            return fault
        lines = []
        for custom_id, params in self.batches.get(batch_id, []):
            call = self._record("anthropic.batch_item", "", params, headers)
            out = self.handler(call)
            if isinstance(out, str):
                out = ok(out)
            result: dict[str, Any]
            if isinstance(out, BatchOutcome):
                if out.kind == "errored":
                    err = {"type": "error", "error": {"type": "api_error", "message": out.message}}
                    result = {"type": "errored", "error": err}
                else:
                    result = {"type": out.kind}
            elif out.completion is not None:
                result = {"type": "succeeded", "message": _anthropic_body(call.model, out.completion)}
            else:  # an error Reply: its error type (invalid_request_error for 400, ...) becomes the item's
                body = out.body if isinstance(out.body, dict) else {}
                inner = body.get("error") or {"type": "api_error", "message": f"status {out.status}"}
                result = {"type": "errored", "error": {"type": "error", "error": inner}}
            lines.append(json.dumps({"custom_id": custom_id, "result": result}))
        return Reply(body=("\n".join(lines) + "\n").encode(), headers={"content-type": "application/x-jsonl"})

    # -- wire --------------------------------------------------------------------------------------
    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the server is shutting down (stop trickling then)."""
        return self._closing.wait(seconds)

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if isinstance(reply.body, bytes):
            payload = reply.body
        else:
            payload = json.dumps(reply.body if reply.body is not None else {}).encode()
        headers = {"content-type": "application/json", **reply.headers}
        try:
            h.send_response(reply.status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("content-length", str(len(payload) + (100 if reply.truncate else 0)))
            if reply.truncate:
                h.send_header("connection", "close")
            h.end_headers()
            h.wfile.flush()
            if reply.stall_s:
                self._wait(reply.stall_s)
            if reply.trickle_s:
                for i in range(len(payload)):
                    h.wfile.write(payload[i : i + 1])
                    h.wfile.flush()
                    if self._wait(reply.trickle_s):
                        return
            else:
                h.wfile.write(payload)
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up (timeout test): nothing to deliver
        if reply.truncate:
            h.close_connection = True
