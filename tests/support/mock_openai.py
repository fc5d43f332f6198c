"""A mock upstream that speaks OpenAI's exact wire format, with fault injection.

Serves ``POST /v1/chat/completions`` (JSON and SSE, ``stream_options.include_usage``
honoured), ``POST /v1/responses`` (Response objects and typed stream events,
``response.completed`` last), ``POST /v1/embeddings`` and ``GET /v1/models``,
on 127.0.0.1 port 0, inside a running asyncio loop. Every request's raw body
is recorded (``requests``). Faults are queued (``enqueue``: consumed one per
request) or standing (``always``): status + body, Retry-After /
retry-after-ms, a delay before the first byte, a slow stream, an abort after
N events, or a stream that just stops without its terminal event.

Written independently of the gateway's built-in mock provider on purpose, so
a wire-format mistake in one is not mirrored by the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.support.mock_http import Recorded, close_server, listen_loopback, read_request


@dataclass
class Fault:
    status: int | None = None  # answer with this status and an OpenAI error body
    error_type: str = "server_error"
    error_code: str | None = None
    message: str = "injected failure"
    retry_after: str | None = None
    retry_after_ms: str | None = None
    first_byte_delay: float = 0.0  # seconds before the response head
    event_delay: float = 0.0  # seconds between stream events (slow stream)
    abort_after_events: int | None = None  # reset the connection after N events
    stop_after_events: int | None = None  # end the body cleanly after N events, no terminal
    refuse: bool = False  # close the connection without answering



@dataclass
class MockOpenAI:
    reply: str = "Hello from the mock upstream, word by word."
    chunks: int = 6
    prompt_tokens: int = 11
    completion_tokens: int = 7
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    reasoning_tokens: int = 0  # of completion_tokens
    requests: list[Recorded] = field(default_factory=list)
    stream_outcomes: list[str] = field(default_factory=list)  # "complete" | "client_gone" | "aborted"
    always: Fault | None = None
    connections: int = 0  # connections accepted (a reused one counts once)
    _faults: deque[Fault] = field(default_factory=deque)
    _server: asyncio.AbstractServer | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    port: int = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._server, self.port = await listen_loopback(self._serve, 4096)

    async def stop(self) -> None:
        await close_server(self._server)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *faults: Fault) -> None:
        self._faults.extend(faults)

    # ------------------------------------------------------------------ HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (rec := await read_request(reader)) is not None:
                self.requests.append(rec)
                fault = self._faults.popleft() if self._faults else self.always
                keep = await self._respond(writer, rec.method, rec.path.split("?")[0], rec.body, fault)
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _respond(
        self, w: asyncio.StreamWriter, method: str, path: str, body: bytes, fault: Fault | None
    ) -> bool:
        if fault is not None and fault.refuse:
            w.transport.abort()
            return False
        if fault is not None and fault.first_byte_delay:
            await asyncio.sleep(fault.first_byte_delay)
        if fault is not None and fault.status is not None:
            extra = {}
            if fault.retry_after is not None:
                extra["retry-after"] = fault.retry_after
            if fault.retry_after_ms is not None:
                extra["retry-after-ms"] = fault.retry_after_ms
            err = {"error": {"message": fault.message, "type": fault.error_type, "param": None, "code": fault.error_code}}
            await self._json(w, fault.status, err, extra)
            return True
        if path == "/v1/models" and method == "GET":
            await self._json(w, 200, {"object": "list", "data": [{"id": "up-model", "object": "model", "created": 1, "owned_by": "mock"}]})
            return True
        try:
            doc = json.loads(body) if body else {}
            model = str(doc.get("model", "unknown"))
            if not isinstance(doc.get("stream_options") or {}, dict):
                raise TypeError("stream_options")
        except (ValueError, TypeError, AttributeError) as exc:
            # What OpenAI does with a body it cannot use: a 400, never a dropped connection.
            err = {"error": {"message": f"bad request body: {exc}", "type": "invalid_request_error", "param": None, "code": None}}
            await self._json(w, 400, err)
            return True
        if path.startswith("/openai/deployments/"):  # Azure: the deployment names the model
            _, _, _, deployment, operation = path.split("/", 4)
            path, model = f"/v1/{operation}", deployment
        if path == "/v1/chat/completions":
            if doc.get("stream"):
                usage = bool((doc.get("stream_options") or {}).get("include_usage"))
                return await self._sse(w, self._chat_events(model, usage), fault, b"data: [DONE]\n\n")
            await self._json(w, 200, self._chat(model))
            return True
        if path == "/v1/responses":
            if doc.get("stream"):
                return await self._sse(w, self._responses_events(model), fault, None)
            await self._json(w, 200, self._response(model, "completed"))
            return True
        if path == "/v1/embeddings":
            await self._json(w, 200, self._embeddings(model, doc.get("input")))
            return True
        await self._json(w, 404, {"error": {"message": f"no route {path}", "type": "invalid_request_error", "param": None, "code": None}})
        return True

    async def _json(self, w: asyncio.StreamWriter, status: int, doc: object, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
        for k, v in (extra or {}).items():
            head += f"{k}: {v}\r\n"
        w.write(head.encode() + b"\r\n" + data)
        await w.drain()

    async def _sse(self, w: asyncio.StreamWriter, events: list[bytes], fault: Fault | None, terminal: bytes | None) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n")
        if terminal is not None:
            events = [*events, terminal]
        try:
            for i, ev in enumerate(events):
                if fault is not None and fault.abort_after_events is not None and i >= fault.abort_after_events:
                    await w.drain()
                    w.transport.abort()
                    self.stream_outcomes.append("aborted")
                    return False
                if fault is not None and fault.stop_after_events is not None and i >= fault.stop_after_events:
                    break
                if fault is not None and fault.event_delay and i:
                    await asyncio.sleep(fault.event_delay)
                if w.transport.is_closing():
                    raise ConnectionResetError
                w.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                await w.drain()
            w.write(b"0\r\n\r\n")
            await w.drain()
        except ConnectionError:
            self.stream_outcomes.append("client_gone")
            return False
        self.stream_outcomes.append("complete")
        return True

    # ------------------------------------------------------------------ bodies

    def _usage(self) -> dict[str, object]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens, "audio_tokens": 0},
        }

    def _pieces(self) -> list[str]:
        words = self.reply.split(" ")
        per = max(1, -(-len(words) // self.chunks))
        return [" ".join(words[i : i + per]) + (" " if i + per < len(words) else "") for i in range(0, len(words), per)]

    def _chat(self, model: str) -> dict[str, object]:
        return {
            "id": f"chatcmpl-up{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": self.reply, "refusal": None, "annotations": []}, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": self._usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
        }

    def _chat_events(self, model: str, include_usage: bool) -> list[bytes]:
        base = {"id": f"chatcmpl-up{next(self._ids)}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model, "service_tier": "default", "system_fingerprint": "fp_mock"}

        def ev(choices: list[object], **more: object) -> bytes:
            doc = {**base, "choices": choices, **more}
            if include_usage and "usage" not in more:
                doc["usage"] = None
            return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"

        out = [ev([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None, "finish_reason": None}])]
        out += [ev([{"index": 0, "delta": {"content": p}, "logprobs": None, "finish_reason": None}]) for p in self._pieces()]
        out.append(ev([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
        if include_usage:
            out.append(ev([], usage=self._usage()))
        return out

    def _response(self, model: str, status: str) -> dict[str, object]:
        done = status == "completed"
        return {
            "id": "resp_up1",
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "model": model,
            "output": [
                {"id": "msg_up1", "type": "message", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": self.reply, "annotations": []}]}
            ] if done else [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "store": True,
            "usage": {
                "input_tokens": self.prompt_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": self.completion_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            } if done else None,
        }

    def _responses_events(self, model: str) -> list[bytes]:
        seq = itertools.count()

        def ev(kind: str, **fields: object) -> bytes:
            doc = {"type": kind, "sequence_number": next(seq), **fields}
            return f"event: {kind}\ndata: {json.dumps(doc)}\n\n".encode()

        item = {"id": "msg_up1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        out = [
            ev("response.created", response=self._response(model, "in_progress")),
            ev("response.in_progress", response=self._response(model, "in_progress")),
            ev("response.output_item.added", output_index=0, item=item),
            ev("response.content_part.added", item_id="msg_up1", output_index=0, content_index=0, part=part),
        ]
        out += [ev("response.output_text.delta", item_id="msg_up1", output_index=0, content_index=0, delta=p, logprobs=[]) for p in self._pieces()]
        out.append(ev("response.output_text.done", item_id="msg_up1", output_index=0, content_index=0, text=self.reply, logprobs=[]))
        done_part = {"type": "output_text", "text": self.reply, "annotations": []}
        out.append(ev("response.content_part.done", item_id="msg_up1", output_index=0, content_index=0, part=done_part))
        done_item = {**item, "status": "completed", "content": [done_part]}
        out.append(ev("response.output_item.done", output_index=0, item=done_item))
        out.append(ev("response.completed", response=self._response(model, "completed")))
        return out

    def _embeddings(self, model: str, inp: object) -> dict[str, object]:
        items = inp if isinstance(inp, list) else [inp]
        data = [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), -0.2, 0.3]} for i in range(len(items))]
        return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 5, "total_tokens": 5}}


@contextlib.contextmanager
def serving_in_a_thread(mock: MockOpenAI) -> Iterator[MockOpenAI]:
    """``mock`` serving on a loop of its own thread (for tests that drive a gateway process)."""
    from tests.ai.conftest import LoopThread

    loop = LoopThread()
    loop.run(mock.start())
    try:
        yield mock
    finally:
        loop.run(mock.stop())
        loop.close()
