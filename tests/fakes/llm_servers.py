"""A wire-level fake of the three LLM provider APIs (OpenAI-compatible, Ollama, Anthropic) on 127.0.0.1.

Replies are scripted (`push` queues them, `script` computes them) and wrapped in each provider's real
response envelope; a reply may make tool calls (`Reply.tool_call`) in each provider's own shape, and
`Reply.text_tool_call` writes one in the plain-text protocol of models without tool calling. The fake
is as strict as the real services about auth headers, required fields, paths and tool turns, so an
adapter that sends a wrong request fails here too. Recorded header names are lower-case.
"""

from __future__ import annotations

import collections
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.fakes import llm_tool_wire
from tests.fakes.llm_tool_wire import Flavor, ScriptedCall

CHAT_PATHS = {"openai": "/v1/chat/completions", "ollama": "/api/chat", "anthropic": "/v1/messages"}
MODEL_LIST_PATHS = {"openai": "/v1/models", "ollama": "/api/tags"}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass
class Reply:
    """One scripted answer; `raw_body` replaces the well-formed body (to send malformed or cut JSON)."""

    text: str = ""
    input_tokens: int = 100
    output_tokens: int = 50
    status: int = 200
    delay_s: float = 0.0
    raw_body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "scripted error"
    finish_reason: str | None = None  # None: the flavor's usual "stop" / "end_turn" (or tool-call reason)
    tool_calls: list[ScriptedCall] = field(default_factory=list)

    @classmethod
    def tool_call(
        cls,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        raw_arguments: str | None = None,
        text: str = "",
        more: tuple[ScriptedCall, ...] = (),
    ) -> Reply:
        """A reply calling tool `name` natively (plus `more` calls); `raw_arguments` sends garbage JSON."""
        first = ScriptedCall(name, arguments or {}, raw_arguments)
        return cls(text=text, tool_calls=[first, *more])

    @classmethod
    def text_tool_call(cls, name: str, arguments: dict[str, Any] | None = None) -> Reply:
        """A reply calling tool `name` in the plain-text protocol (one JSON object as the whole answer)."""
        return cls(text=json.dumps({"tool": name, "arguments": arguments or {}}))


@dataclass
class RecordedRequest:
    """A request as the fake received it (header names lower-case; body {} when not JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes = b""  # the body exactly as it came over the wire
    received_at: float = field(default_factory=time.monotonic)


class FakeLLMServer:
    """A threaded HTTP server speaking one provider's API; use it as a context manager."""

    def __init__(
        self,
        flavor: Flavor,
        script: Callable[[RecordedRequest], Reply] | None = None,
        *,
        require_key: bool = False,
        models: tuple[str, ...] = ("fake-model",),
        supports_tools: bool = True,
    ) -> None:
        self.flavor: Flavor = flavor
        self.script = script
        self.require_key = require_key
        self.models = models
        self.supports_tools = supports_tools
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0  # chat requests being answered now
        self.max_in_flight = 0  # the most answered at once so far
        self.base_url = ""
        self._queue: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def push(self, *replies: Reply) -> None:
        """Queue replies; they are used before the script, in order."""
        with self._lock:
            self._queue.extend(replies)

    def chat_bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of every chat request so far, in order."""
        with self._lock:
            return [r.body for r in self.requests if r.path == CHAT_PATHS[self.flavor]]

    def wire_text(self) -> str:
        """Every request body received so far, as sent (for checks that a byte never left the client)."""
        with self._lock:
            return "\n".join(r.raw.decode("utf-8", "replace") for r in self.requests)

    def __enter__(self) -> FakeLLMServer:
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False  # a reply still sleeping must not hold up the test's teardown
        self._server = server
        # A short poll interval keeps shutdown() (and so each test's teardown) in milliseconds.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name=f"fake-{self.flavor}", daemon=True
        )
        self._thread.start()
        root = f"http://127.0.0.1:{server.server_address[1]}"
        self.base_url = root + "/v1" if self.flavor == "openai" else root
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- what the handler calls -------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request."""
        with self._lock:
            self.requests.append(request)
        if request.method == "GET" and request.path == MODEL_LIST_PATHS.get(self.flavor):
            return 200, {}, _json(self._model_list())
        if request.method != "POST" or request.path != CHAT_PATHS[self.flavor]:
            return self._error(404, f"no route for {request.method} {request.path}")
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        reply = self._next_reply(request)
        if reply is None:
            return self._error(500, "the fake LLM server ran out of script: push() a Reply or pass script=")
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._stopping.wait(reply.delay_s)
        finally:
            with self._lock:
                self.in_flight -= 1
        if reply.raw_body is not None:
            body = reply.raw_body
        elif reply.status >= 400:
            body = self._error(reply.status, reply.error_message)[2]
        else:
            body = _json(self._envelope(reply, request.body))
        return reply.status, dict(reply.headers), body

    def _next_reply(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.script(request) if self.script is not None else None

    def _refusal(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes] | None:
        """The error a real service gives for missing auth or a malformed request, if any."""
        headers, body = request.headers, request.body
        if (
            self.flavor == "openai"
            and self.require_key
            and not headers.get("authorization", "").startswith("Bearer ")
        ):
            return self._error(401, "You didn't provide an API key.")
        if self.flavor == "anthropic":
            if not headers.get("x-api-key"):
                return self._error(401, "x-api-key header is required")
            if not headers.get("anthropic-version"):
                return self._error(400, "anthropic-version: header is required")
        required = (
            ("model", "messages", "max_tokens") if self.flavor == "anthropic" else ("model", "messages")
        )
        missing = [name for name in required if name not in body]
        if missing:
            return self._error(400, f"missing required field(s): {', '.join(missing)}")
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            return self._error(400, "messages: must be a non-empty list")
        if "tools" in body and not self.supports_tools:
            return self._error(400, f"{body['model']} does not support tools")
        problem = (
            _message_problem(self.flavor, messages, body)
            or _format_problem(self.flavor, body)
            or llm_tool_wire.tools_problem(self.flavor, body)
        )
        return self._error(400, problem) if problem else None

    def _error(self, status: int, message: str) -> tuple[int, dict[str, str], bytes]:
        if self.flavor == "anthropic":
            kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
            envelope: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        elif self.flavor == "ollama":
            envelope = {"error": message}
        else:
            kind = "invalid_request_error" if status < 500 else "server_error"
            envelope = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return status, {}, _json(envelope)

    def _model_list(self) -> dict[str, Any]:
        if self.flavor == "ollama":
            return {"models": [{"name": m, "model": m, "size": 0, "digest": "0" * 64} for m in self.models]}
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models],
        }

    def _envelope(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        number, model, called = next(self._ids), body.get("model", ""), bool(reply.tool_calls)
        if self.flavor == "openai":
            return {
                "id": f"chatcmpl-fake{number}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": llm_tool_wire.openai_message(reply.text, reply.tool_calls, number),
                        "finish_reason": reply.finish_reason or ("tool_calls" if called else "stop"),
                    }
                ],
                "usage": {
                    "prompt_tokens": reply.input_tokens,
                    "completion_tokens": reply.output_tokens,
                    "total_tokens": reply.input_tokens + reply.output_tokens,
                },
            }
        if self.flavor == "ollama":
            return {
                "model": model,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "message": llm_tool_wire.ollama_message(reply.text, reply.tool_calls),
                "done": True,
                "done_reason": reply.finish_reason or "stop",
                "total_duration": 1_000_000,
                "prompt_eval_count": reply.input_tokens,
                "eval_count": reply.output_tokens,
            }
        return {
            "id": f"msg_fake{number}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": llm_tool_wire.anthropic_content(reply.text, reply.tool_calls, number),
            "stop_reason": reply.finish_reason or ("tool_use" if called else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }


class _Server(ThreadingHTTPServer):
    # A real provider takes many connections at once; the default backlog of 5 resets a burst of 50.
    request_queue_size = 256


def _message_problem(flavor: Flavor, messages: list[Any], body: dict[str, Any]) -> str | None:
    if flavor == "anthropic":
        return llm_tool_wire.anthropic_problem(messages, body)
    return llm_tool_wire.chat_problem(flavor, messages)


def _format_problem(flavor: Flavor, body: dict[str, Any]) -> str | None:
    if flavor == "openai" and "response_format" in body:
        fmt = body["response_format"]
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                return "response_format.json_schema.name is required"
        elif kind not in {"json_object", "text"}:
            return f"response_format.type: invalid value {kind!r}"
    if (
        flavor == "ollama"
        and "format" in body
        and not (body["format"] == "json" or isinstance(body["format"], dict))
    ):
        return 'format must be "json" or a JSON schema object'
    if flavor == "anthropic" and not isinstance(body.get("max_tokens"), int):
        return "max_tokens: must be an integer"
    return None


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _handler_for(fake: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                body = None
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = RecordedRequest(
                self.command, self.path, headers, body if isinstance(body, dict) else {}, raw
            )
            if raw and not isinstance(body, dict):
                with fake._lock:
                    fake.requests.append(request)
                status, extra, payload = fake._error(400, "the request body is not a JSON object")
            else:
                status, extra, payload = fake.handle(request)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing left to tell it

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
