"""A mock upstream speaking Anthropic's Messages API wire format exactly, with faults.

``POST /v1/messages`` answers a Message (JSON) or the SSE event sequence
(``message_start``, ``content_block_*``, ``ping``, ``message_delta``, ``message_stop``,
each with its ``event:`` line), and ``POST /v1/messages/count_tokens``. What it answers
is a :class:`Script` (text, thinking, tool calls, usage); the pure renderers
``message_json``/``message_events`` are also used directly by tests that compare
streamed and non-streamed usage. Requests are recorded; faults are queued per request.
Also home of :class:`MockServer`, the tiny HTTP/1.1 server both provider mocks share.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.support.mock_http import Recorded, close_server, listen_loopback, read_request


@dataclass
class Fault:
    status: int | None = None  # answer with this status and the provider's error body
    error_type: str | None = None  # provider error type/status (default from the status)
    message: str = "injected failure"
    retry_after: str | None = None
    stop_after_events: int | None = None  # end the body cleanly after N events, no terminal event
    error_after_events: int | None = None  # send the provider's in-stream error event after N events
    event_delay: float = 0.0  # seconds between stream events (slow stream)



@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""


@dataclass
class Script:
    """What the mock model 'says' for one request."""

    text: str = "Hello from the mock Anthropic model."
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 21
    output_tokens: int = 9
    cache_read: int = 0
    cache_creation: int = 0
    thinking_tokens: int = 0
    stop_reason: str | None = None  # default: tool_use when tools are called, else end_turn


class MockServer:
    """Minimal keep-alive HTTP/1.1 server on 127.0.0.1:0 (Content-Length bodies in, JSON or chunked SSE out)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.port = 0
        self.connections = 0  # connections accepted (a reused one counts once)
        self.always: Fault | None = None  # applies to every request the queue has no fault for
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server, self.port = await listen_loopback(self._serve, 256)

    async def stop(self) -> None:
        await close_server(self._server)

    def enqueue(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (rec := await read_request(reader)) is not None:
                self.requests.append(rec)
                fault = self.faults.popleft() if self.faults else self.always
                await self.respond(writer, rec, fault)
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def respond(self, w: asyncio.StreamWriter, rec: Recorded, fault: Fault | None) -> None:
        raise NotImplementedError

    async def send_json(self, w: asyncio.StreamWriter, status: int, doc: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
        for k, v in (extra or {}).items():
            head += f"{k}: {v}\r\n"
        w.write(head.encode() + b"\r\n" + data)
        await w.drain()

    async def send_sse(self, w: asyncio.StreamWriter, events: list[bytes], event_delay: float = 0.0) -> None:
        w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n")
        for i, ev in enumerate(events):
            if event_delay and i:
                await asyncio.sleep(event_delay)
            w.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            await w.drain()
        w.write(b"0\r\n\r\n")
        await w.drain()


# ---------------------------------------------------------------------- pure renderers


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}


def _stop_reason(s: Script) -> str:
    return s.stop_reason or ("tool_use" if s.tool_calls else "end_turn")


def _usage(s: Script) -> dict[str, Any]:
    u: dict[str, Any] = {
        "input_tokens": s.input_tokens,
        "cache_creation_input_tokens": s.cache_creation,
        "cache_read_input_tokens": s.cache_read,
        "output_tokens": s.output_tokens,
    }
    if s.thinking_tokens:
        u["output_tokens_details"] = {"thinking_tokens": s.thinking_tokens}
    return u


def _tool_id(s: Script, i: int) -> str:
    return s.tool_calls[i].id or f"toolu_mock{i:04d}"


def message_json(s: Script, model: str, msg_id: str = "msg_mock0001") -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if s.thinking:
        content.append({"type": "thinking", "thinking": s.thinking, "signature": "c2lnbmF0dXJl"})
    if s.text:
        content.append({"type": "text", "text": s.text})
    for i, tc in enumerate(s.tool_calls):
        content.append({"type": "tool_use", "id": _tool_id(s, i), "name": tc.name, "input": tc.arguments})
    return {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": _stop_reason(s), "stop_sequence": None, "usage": _usage(s)}


def _ev(name: str, obj: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()


def _pieces(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)] or [""]


def message_events(s: Script, model: str, msg_id: str = "msg_mock0001") -> list[bytes]:
    start_usage = {"input_tokens": s.input_tokens, "cache_creation_input_tokens": s.cache_creation,
                   "cache_read_input_tokens": s.cache_read, "output_tokens": 1}
    msg: dict[str, Any] = {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
           "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    out = [_ev("message_start", {"type": "message_start", "message": msg})]
    idx = 0

    def block(start: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal idx
        out.append(_ev("content_block_start", {"type": "content_block_start", "index": idx, "content_block": start}))
        for d in deltas:
            out.append(_ev("content_block_delta", {"type": "content_block_delta", "index": idx, "delta": d}))
        out.append(_ev("content_block_stop", {"type": "content_block_stop", "index": idx}))
        idx += 1

    if s.thinking:
        block({"type": "thinking", "thinking": "", "signature": ""},
              [{"type": "thinking_delta", "thinking": p} for p in _pieces(s.thinking, 7)]
              + [{"type": "signature_delta", "signature": "c2lnbmF0dXJl"}])
    out.append(_ev("ping", {"type": "ping"}))
    if s.text:
        block({"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in _pieces(s.text, 5)])
    for i, tc in enumerate(s.tool_calls):
        args = json.dumps(tc.arguments)
        block({"type": "tool_use", "id": _tool_id(s, i), "name": tc.name, "input": {}},
              [{"type": "input_json_delta", "partial_json": ""}]
              + [{"type": "input_json_delta", "partial_json": p} for p in _pieces(args, 3)])
    final = {"output_tokens": s.output_tokens}
    if s.cache_read or s.cache_creation:
        final.update(input_tokens=s.input_tokens, cache_read_input_tokens=s.cache_read,
                     cache_creation_input_tokens=s.cache_creation)
    if s.thinking_tokens:
        final["output_tokens_details"] = {"thinking_tokens": s.thinking_tokens}  # type: ignore[assignment]
    out.append(_ev("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": _stop_reason(s), "stop_sequence": None},
                                     "usage": final}))
    out.append(_ev("message_stop", {"type": "message_stop"}))
    return out


def error_body(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type or _ERROR_TYPES.get(status, "api_error"), "message": message}}


# ---------------------------------------------------------------------- the server


class MockAnthropic(MockServer):
    """Anthropic Messages API mock. ``script`` decides the answer; by default a request
    with tools whose last turn is not a tool result gets one call of the first tool."""

    def __init__(self, script: Script | None = None) -> None:
        super().__init__()
        self.script = script

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script_for(self, doc: dict[str, Any]) -> Script:
        if self.script is not None:
            return self.script
        tools = doc.get("tools") or []
        last = (doc.get("messages") or [{}])[-1]
        content = last.get("content")
        answered = isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)
        if tools and not answered and (doc.get("tool_choice") or {}).get("type") != "none":
            return Script(text="", tool_calls=[ToolCall(tools[0]["name"], {"city": "Paris", "days": 3})])
        return Script()

    async def respond(self, w: asyncio.StreamWriter, rec: Recorded, fault: Fault | None) -> None:
        path = rec.path.split("?")[0]
        if not (rec.headers.get("x-api-key") or rec.headers.get("authorization")):
            await self.send_json(w, 401, error_body(401, "x-api-key header is required"))
            return
        if "anthropic-version" not in rec.headers:
            await self.send_json(w, 400, error_body(400, "anthropic-version: header is required"))
            return
        if fault is not None and fault.status is not None:
            extra = {"retry-after": fault.retry_after} if fault.retry_after else None
            await self.send_json(w, fault.status, error_body(fault.status, fault.message, fault.error_type), extra)
            return
        doc = rec.json()
        if path == "/v1/messages/count_tokens":
            await self.send_json(w, 200, {"input_tokens": len(json.dumps(doc.get("messages"))) // 4})
            return
        if path != "/v1/messages":
            await self.send_json(w, 404, error_body(404, f"no route {path}"))
            return
        for k in ("model", "max_tokens", "messages"):
            if k not in doc:
                await self.send_json(w, 400, error_body(400, f"{k}: Field required"))
                return
        script = self.script_for(doc)
        if not doc.get("stream"):
            await self.send_json(w, 200, message_json(script, doc["model"]))
            return
        events = message_events(script, doc["model"])
        if fault is not None and fault.error_after_events is not None:
            err = (error_body(529, fault.message, fault.error_type) if fault.error_type
                   else error_body(529, "Overloaded", "overloaded_error"))
            events = [*events[: fault.error_after_events], _ev("error", err)]
        elif fault is not None and fault.stop_after_events is not None:
            events = events[: fault.stop_after_events]
        await self.send_sse(w, events, fault.event_delay if fault is not None else 0.0)
