"""OpenAI chat-completion chunks → typed Responses API stream events.

Event order follows OpenAI's: ``response.created``, ``response.in_progress``, then per
output item ``output_item.added`` → (``content_part.added`` → ``output_text.delta``… →
``output_text.done`` → ``content_part.done`` | ``function_call_arguments.delta``… →
``function_call_arguments.done``) → ``output_item.done``, and last
``response.completed`` (``response.incomplete`` when the model hit its token limit).
Every event carries a ``sequence_number``. A chat stream that fails or ends early
yields an ``error`` event instead of the terminal one.
"""

from __future__ import annotations

import time

import orjson

from ferrogate.ai.translate.common import Json
from ferrogate.ai.translate.sse_translator import ChatChunkTranslator
from ferrogate.ai.usage import Usage


def responses_usage(u: Usage) -> Json:
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": u.cached_tokens,
            "cache_write_tokens": u.cache_creation_tokens,
        },
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total_tokens,
    }


def base_response(request: Json, *, resp_id: str, model: str, created_at: int) -> Json:
    """The ``response`` object's fields that echo the request."""
    fmt = (request.get("text") or {}).get("format") or {"type": "text"}
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": (request.get("reasoning") or {}).get("effort"), "summary": None},
        "store": False,
        "temperature": request.get("temperature"),
        "text": {"format": fmt},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


class ChatToResponsesStream(ChatChunkTranslator):
    """Feed OpenAI chat SSE bytes, get Responses SSE bytes."""

    __slots__ = (
        "_created_at",
        "_items",
        "_model",
        "_open_text",
        "_request",
        "_resp_id",
        "_seq",
        "_tools",
    )

    _TRUNCATED = "the upstream stream ended before its terminal event"
    _TRUNCATED_CODE = "upstream_stream_truncated"

    def __init__(
        self, request: Json, *, resp_id: str, model: str, created_at: int | None = None
    ) -> None:
        super().__init__()
        self._request = request
        self._resp_id = resp_id
        self._model = model
        self._created_at = created_at if created_at is not None else int(time.time())
        self._seq = 0
        self._items: list[Json] = []  # output items in order (mutated as they fill)
        self._open_text: int = -1  # output index of the message item being written
        self._tools: dict[int, int] = {}  # chat tool index → output index

    # ------------------------------------------------------------------ internals

    def _emit(self, kind: str, payload: Json, out: list[bytes]) -> None:
        payload = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        out.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n")

    def _fail(self, message: str, code: str, out: list[bytes]) -> None:
        self._failed = True
        err = {"type": "upstream_error", "code": code, "message": message, "param": None}
        pending: list[bytes] = []
        self._emit(
            "error", {"code": code, "message": message, "param": None, "error": err}, pending
        )
        self._gate.pending_error = pending[0]

    def _response(self, status: str) -> Json:
        resp = base_response(
            self._request, resp_id=self._resp_id, model=self._model, created_at=self._created_at
        )
        resp["status"] = status
        resp["output"] = list(self._items) if status != "in_progress" else []
        return resp

    def _start(self, out: list[bytes]) -> None:
        self._started = True
        head: list[bytes] = []
        self._emit("response.created", {"response": self._response("in_progress")}, head)
        self._emit("response.in_progress", {"response": self._response("in_progress")}, head)
        self._gate.head = b"".join(head)

    def _close_text(self, out: list[bytes]) -> None:
        idx = self._open_text
        if idx < 0:
            return
        self._open_text = -1
        item = self._items[idx]
        part = item["content"][0]
        self._emit(
            "response.output_text.done",
            {
                "item_id": item["id"],
                "output_index": idx,
                "content_index": 0,
                "text": part["text"],
                "logprobs": [],
            },
            out,
        )
        self._emit(
            "response.content_part.done",
            {"item_id": item["id"], "output_index": idx, "content_index": 0, "part": part},
            out,
        )
        item["status"] = "completed"
        self._emit("response.output_item.done", {"output_index": idx, "item": item}, out)

    def _text(self, text: str, out: list[bytes]) -> None:
        if self._open_text < 0:
            idx = self._open_text = len(self._items)
            item: Json = {
                "id": f"msg_{self._resp_id.removeprefix('resp_')}_{idx}",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            self._items.append(item)
            self._emit(
                "response.output_item.added",
                {"output_index": idx, "item": dict(item, content=[])},
                out,
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            item["content"].append(part)
            self._emit(
                "response.content_part.added",
                {
                    "item_id": item["id"],
                    "output_index": idx,
                    "content_index": 0,
                    "part": dict(part),
                },
                out,
            )
        idx = self._open_text
        item = self._items[idx]
        item["content"][0]["text"] += text
        self._emit(
            "response.output_text.delta",
            {
                "item_id": item["id"],
                "output_index": idx,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            },
            out,
        )

    def _tool(self, tc: Json, out: list[bytes]) -> None:
        tidx = tc.get("index", 0)
        fn = tc.get("function") or {}
        idx = self._tools.get(tidx)
        if idx is None:
            self._close_text(out)
            idx = self._tools[tidx] = len(self._items)
            item: Json = {
                "id": f"fc_{self._resp_id.removeprefix('resp_')}_{idx}",
                "type": "function_call",
                "status": "in_progress",
                "call_id": tc.get("id", ""),
                "name": fn.get("name", ""),
                "arguments": "",
            }
            self._items.append(item)
            self._emit("response.output_item.added", {"output_index": idx, "item": dict(item)}, out)
        args = fn.get("arguments")
        if args:
            item = self._items[idx]
            item["arguments"] += args
            self._emit(
                "response.function_call_arguments.delta",
                {"item_id": item["id"], "output_index": idx, "delta": args},
                out,
            )

    def _end(self, out: list[bytes]) -> None:
        if not self._started:
            self._start(out)
        self._close_text(out)
        for idx in self._tools.values():
            item = self._items[idx]
            self._emit(
                "response.function_call_arguments.done",
                {
                    "item_id": item["id"],
                    "output_index": idx,
                    "name": item["name"],
                    "arguments": item["arguments"],
                },
                out,
            )
            item["status"] = "completed"
            self._emit("response.output_item.done", {"output_index": idx, "item": item}, out)
        incomplete = self._finish in ("length", "content_filter")
        resp = self._response("incomplete" if incomplete else "completed")
        if incomplete:
            resp["incomplete_details"] = {
                "reason": "max_output_tokens" if self._finish == "length" else "content_filter"
            }
        usage = self.usage
        resp["usage"] = responses_usage(usage) if usage is not None else None
        self._emit(
            "response.incomplete" if incomplete else "response.completed", {"response": resp}, out
        )
        self.complete = True

    def _choice_delta(self, delta: Json, out: list[bytes]) -> None:
        if delta.get("content"):
            self._text(delta["content"], out)
        for tc in delta.get("tool_calls") or ():
            self._tool(tc, out)
