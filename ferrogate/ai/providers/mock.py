"""The built-in ``mock`` provider: offline, deterministic, answered in-process.

For demos, ``make run``, and benchmarks of the gateway itself. It speaks the
OpenAI wire format exactly (chat JSON and SSE with usage, Responses objects and
typed events, embeddings) without any network, and labels itself: every
answer has ``system_fingerprint: "ferrogate-mock"`` (chat) or
``metadata.ferrogate_mock`` (Responses) and an ``x-ferrogate-mock: 1`` header.
Settings (``[providers.mock]``): latency before the first byte, token counts,
number of stream chunks, the reply text.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Final

import msgspec
import orjson

from ferrogate.ai.providers.base import UpstreamCall
from ferrogate.ai.providers.mock_answer import Answer, answer_chat, answer_responses
from ferrogate.config.model import MockSettings

_MOCK_HEADERS_JSON = [(b"content-type", b"application/json"), (b"x-ferrogate-mock", b"1")]
_MOCK_HEADERS_SSE = [(b"content-type", b"text/event-stream"), (b"x-ferrogate-mock", b"1")]


class _StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


# The most an embedding may ask for (OpenAI's largest embedding model has 3,072). The vector is
# made on the worker's loop: unbounded, one request asking for 2**64 held a worker for good.
MAX_DIMENSIONS: Final = 3072


class _CallHead(msgspec.Struct):
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    input: msgspec.Raw = msgspec.Raw()
    dimensions: Annotated[int, msgspec.Meta(ge=1, le=MAX_DIMENSIONS)] | None = None


_head_decoder = msgspec.json.Decoder(_CallHead)


class MockResponse:
    """An in-memory stand-in for the pool's UpstreamResponse."""

    __slots__ = ("_delay", "_parts", "headers", "status")

    def __init__(
        self, headers: list[tuple[bytes, bytes]], parts: list[bytes], delay: float, status: int = 200
    ) -> None:
        self.status = status
        self.headers = headers
        self._parts = parts
        self._delay = delay

    async def read(self, max_bytes: int) -> bytes:
        if self._delay:
            await asyncio.sleep(self._delay)
        return b"".join(self._parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._delay:
            await asyncio.sleep(self._delay)
        for part in self._parts:
            yield part

    def close(self) -> None:
        self._parts = []


def _pieces(text: str, n: int) -> list[str]:
    n = max(1, n)
    size = max(1, -(-len(text) // n))
    out = [text[i : i + size] for i in range(0, len(text), size)]
    return out + [""] * (n - len(out)) if len(out) < n else out


class MockTransport:
    """Answers an UpstreamCall in-process, deterministically."""

    __slots__ = ("_ids", "_settings")

    def __init__(self, settings: MockSettings) -> None:
        self._settings = settings
        self._ids = itertools.count(1)

    def _tokens(self, body: bytes) -> tuple[int, int]:
        s = self._settings
        prompt = s.prompt_tokens if s.prompt_tokens is not None else max(1, len(body) // 4)
        return prompt, s.completion_tokens

    async def send(self, call: UpstreamCall, provider_model: str) -> MockResponse:
        try:
            head = _head_decoder.decode(call.body)
        except msgspec.ValidationError as exc:
            # What a real provider does with a field of the wrong type: a 400 naming it.
            error = {"error": {"message": str(exc), "type": "invalid_request_error", "param": None, "code": None}}
            return MockResponse(_MOCK_HEADERS_JSON, [orjson.dumps(error)], 0.0, status=400)
        delay = self._settings.latency_ms / 1000.0
        n = next(self._ids)
        if call.path.endswith("/embeddings"):
            return MockResponse(_MOCK_HEADERS_JSON, [self._embeddings(head, provider_model)], delay)
        if call.path.endswith("/responses"):
            if head.stream:
                return MockResponse(_MOCK_HEADERS_SSE, self._responses_stream(n, call.body, provider_model), delay)
            return MockResponse(_MOCK_HEADERS_JSON, [orjson.dumps(self._response_obj(n, call.body, provider_model))], delay)
        if head.stream:
            usage = bool(head.stream_options and head.stream_options.include_usage)
            return MockResponse(_MOCK_HEADERS_SSE, self._chat_stream(n, call.body, provider_model, usage), delay)
        return MockResponse(_MOCK_HEADERS_JSON, [self._chat(n, call.body, provider_model)], delay)

    # ---------------------------------------------------------------- chat

    def _usage(self, body: bytes) -> dict[str, object]:
        prompt, completion = self._tokens(body)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _answer(self, body: bytes, responses: bool = False) -> Answer:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Answer(text=self._settings.reply)
        if not isinstance(doc, dict):
            return Answer(text=self._settings.reply)
        try:
            return answer_responses(doc, self._settings.reply) if responses else answer_chat(doc, self._settings.reply)
        except (TypeError, ValueError, AttributeError, KeyError, RecursionError):
            # A malformed tool schema or message list from the client: a model would still
            # answer, so the mock answers text rather than failing the request.
            return Answer(text=self._settings.reply)

    def _chat(self, n: int, body: bytes, model: str) -> bytes:
        answer = self._answer(body)
        message: dict[str, object] = {"role": "assistant", "content": answer.text, "refusal": None}
        if answer.tool is not None:
            message["tool_calls"] = [
                {
                    "id": answer.call_id(f"chat-{n}"),
                    "type": "function",
                    "function": {"name": answer.tool, "arguments": answer.arguments},
                }
            ]
        return orjson.dumps(
            {
                "id": f"chatcmpl-mock-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "ferrogate-mock",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "stop" if answer.tool is None else "tool_calls",
                    }
                ],
                "usage": self._usage(body),
            }
        )

    def _chat_stream(self, n: int, body: bytes, model: str, include_usage: bool) -> list[bytes]:
        base = {
            "id": f"chatcmpl-mock-{n}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "ferrogate-mock",
        }

        def chunk(choices: list[object], usage: object = None) -> bytes:
            doc = dict(base, choices=choices)
            if include_usage:
                doc["usage"] = usage
            return b"data: " + orjson.dumps(doc) + b"\n\n"

        answer = self._answer(body)
        if answer.tool is None:
            parts = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
            for piece in _pieces(answer.text or "", self._settings.stream_chunks):
                parts.append(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
            parts.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        else:
            # As OpenAI streams a call: id, type and name first, then the arguments in pieces.
            call = {
                "index": 0,
                "id": answer.call_id(f"chat-{n}"),
                "type": "function",
                "function": {"name": answer.tool, "arguments": ""},
            }
            first = {"role": "assistant", "content": None, "tool_calls": [call]}
            parts = [chunk([{"index": 0, "delta": first, "finish_reason": None}])]
            for piece in _pieces(answer.arguments, self._settings.stream_chunks):
                if piece:
                    delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                    parts.append(chunk([{"index": 0, "delta": delta, "finish_reason": None}]))
            parts.append(chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]))
        if include_usage:
            parts.append(chunk([], self._usage(body)))
        parts.append(b"data: [DONE]\n\n")
        return parts

    # ---------------------------------------------------------------- responses

    def _response_obj(self, n: int, body: bytes, model: str, status: str = "completed") -> dict[str, object]:
        prompt, completion = self._tokens(body)
        done = status == "completed"
        return {
            "id": f"resp_mock_{n}",
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "model": model,
            "output": [self._output_item(n, self._answer(body, responses=True))] if done else [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "metadata": {"ferrogate_mock": "true"},
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + completion,
            }
            if done
            else None,
        }

    def _output_item(self, n: int, answer: Answer) -> dict[str, object]:
        if answer.tool is not None:
            return {
                "id": f"fc_mock_{n}",
                "type": "function_call",
                "status": "completed",
                "call_id": answer.call_id(f"resp-{n}"),
                "name": answer.tool,
                "arguments": answer.arguments,
            }
        return {
            "id": f"msg_mock_{n}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": answer.text or "", "annotations": []}],
        }

    def _responses_stream(self, n: int, body: bytes, model: str) -> list[bytes]:
        seq = itertools.count(0)
        item_id = f"msg_mock_{n}"

        def ev(kind: str, **fields: object) -> bytes:
            doc = {"type": kind, "sequence_number": next(seq), **fields}
            return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(doc) + b"\n\n"

        answer = self._answer(body, responses=True)
        in_progress = self._response_obj(n, body, model, status="in_progress")
        if answer.tool is not None:
            return self._function_call_stream(n, body, model, answer, ev, in_progress)
        text = answer.text or ""
        item_open = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        part_empty = {"type": "output_text", "text": "", "annotations": []}
        parts = [
            ev("response.created", response=in_progress),
            ev("response.in_progress", response=in_progress),
            ev("response.output_item.added", output_index=0, item=item_open),
            ev("response.content_part.added", item_id=item_id, output_index=0, content_index=0, part=part_empty),
        ]
        for piece in _pieces(text, self._settings.stream_chunks):
            parts.append(
                ev("response.output_text.delta", item_id=item_id, output_index=0, content_index=0, delta=piece, logprobs=[])
            )
        parts.append(ev("response.output_text.done", item_id=item_id, output_index=0, content_index=0, text=text, logprobs=[]))
        parts.append(
            ev(
                "response.content_part.done", item_id=item_id, output_index=0, content_index=0,
                part={"type": "output_text", "text": text, "annotations": []},
            )
        )
        parts.append(ev("response.output_item.done", output_index=0, item=self._output_item(n, answer)))
        parts.append(ev("response.completed", response=self._response_obj(n, body, model)))
        return parts

    def _function_call_stream(
        self, n: int, body: bytes, model: str, answer: Answer, ev: Callable[..., bytes], in_progress: object
    ) -> list[bytes]:
        done_item = self._output_item(n, answer)
        item_id = done_item["id"]
        parts = [
            ev("response.created", response=in_progress),
            ev("response.in_progress", response=in_progress),
            ev("response.output_item.added", output_index=0, item=dict(done_item, status="in_progress", arguments="")),
        ]
        for piece in _pieces(answer.arguments, self._settings.stream_chunks):
            if piece:
                parts.append(ev("response.function_call_arguments.delta", item_id=item_id, output_index=0, delta=piece))
        parts.append(
            ev("response.function_call_arguments.done", item_id=item_id, output_index=0, arguments=answer.arguments)
        )
        parts.append(ev("response.output_item.done", output_index=0, item=done_item))
        parts.append(ev("response.completed", response=self._response_obj(n, body, model)))
        return parts

    # ---------------------------------------------------------------- embeddings

    def _embeddings(self, head: _CallHead, model: str) -> bytes:
        try:
            raw = orjson.loads(bytes(head.input)) if head.input else ""
        except orjson.JSONDecodeError:  # not UTF-8 (msgspec leaves raw fields unchecked): embed the text as is
            raw = bytes(head.input).decode("utf-8", "replace")
        inputs = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
        dims = head.dimensions or 8
        data = []
        tokens = 0
        for i, item in enumerate(inputs):
            text = orjson.dumps(item)
            tokens += max(1, len(text) // 4)
            digest = hashlib.sha256(text).digest()
            vector = [round((digest[j % 32] - 128) / 128.0, 6) for j in range(dims)]
            data.append({"object": "embedding", "index": i, "embedding": vector})
        return orjson.dumps(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
