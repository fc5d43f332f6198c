"""Anthropic Messages SSE → OpenAI chat-completion chunks (a StreamTranslator).

Tool calls get OpenAI indexes in the order their ``tool_use`` blocks start, and
each ``input_json_delta`` becomes an ``arguments`` delta at that index. Usage from
``message_start`` is updated by the cumulative counts in ``message_delta``. The
stream is complete only once ``message_stop`` arrives; EOF before that yields an
OpenAI error event instead of ``[DONE]``.
"""

from __future__ import annotations

import time

import orjson

from ferrogate.ai.translate.anthropic_response import (
    FINISH_REASON,
    merge_anthropic_usage,
    usage_from_anthropic,
)
from ferrogate.ai.translate.common import DONE, Json, is_json_string, openai_usage
from ferrogate.ai.translate.errors import classify_anthropic
from ferrogate.ai.translate.openai_chunks import ChunkWriter
from ferrogate.ai.translate.sse_translator import MALFORMED_CODE, SHAPE_ERRORS, SseTranslator
from ferrogate.ai.usage import Usage

_TEXT, _TOOL, _JSON_TEXT, _THINKING, _OTHER = range(5)

# Fast path for the commonest event: Anthropic's compact text delta. The JSON string
# literal of the text is cut out and reused as is (no decode/encode round trip).
_TEXT_PREFIX = b'{"type":"content_block_delta","index":'
_TEXT_MARKER = b',"delta":{"type":"text_delta","text":'
_TEXT_SUFFIX = b"}}"


class AnthropicToOpenAIStream(SseTranslator):
    """Feed Anthropic SSE bytes, get OpenAI chunk SSE bytes."""

    __slots__ = (
        "_blocks",
        "_created",
        "_include_usage",
        "_json_tool",
        "_model",
        "_n_tools",
        "_stop_reason",
        "_usage_raw",
        "_writer",
    )

    def __init__(
        self,
        *,
        include_usage: bool,
        model: str | None = None,
        created: int | None = None,
        json_tool: str | None = None,
    ) -> None:
        super().__init__()
        self._include_usage = include_usage
        self._model = model
        self._created = created if created is not None else int(time.time())
        self._json_tool = json_tool
        self._writer: ChunkWriter | None = None
        self._blocks: dict[int, tuple[int, int]] = {}  # anthropic block index → (kind, tool index)
        self._n_tools = 0
        self._usage_raw: Json = {}
        self._stop_reason: str | None = None

    @property
    def usage(self) -> Usage | None:
        return usage_from_anthropic(self._usage_raw)

    def feed(self, data: bytes) -> bytes:
        if self.complete or self._failed:
            return b""
        out: list[bytes] = []
        w = self._writer
        for ev in self._parser.feed(data):
            payload = ev.data
            if (
                w is not None
                and payload.startswith(_TEXT_PREFIX)
                and payload.endswith(_TEXT_SUFFIX)
            ):
                at = payload.find(_TEXT_MARKER, 38, 90)
                if at != -1:
                    raw = payload[at + 37 : -2]
                    if is_json_string(raw):
                        out.append(w.content_raw(raw))
                        continue
            try:
                self._event_unchecked(payload, out)
            except SHAPE_ERRORS:
                self._malformed(out)
            w = self._writer
            if self.complete or self._failed:
                break
        return self._gate.ship(out)

    def _eof(self, out: list[bytes]) -> None:
        self._parser.flush()
        self._fail("upstream stream ended before message_stop", "stream_truncated", out)

    # ------------------------------------------------------------------ events

    def _event_unchecked(self, data: bytes, out: list[bytes]) -> None:
        ev = orjson.loads(data)  # invalid JSON is a ValueError: a malformed stream
        if not isinstance(ev, dict):
            raise TypeError("event is not an object")
        kind = ev.get("type")
        w = self._writer
        if kind == "content_block_delta" and w is not None:
            delta = ev.get("delta") or {}
            dkind = delta.get("type")
            bkind, tidx = self._blocks.get(ev.get("index", -1), (_OTHER, -1))
            if dkind == "text_delta":
                out.append(w.content(delta.get("text", "")))
            elif dkind == "input_json_delta":
                part = delta.get("partial_json", "")
                if not part:
                    return
                if bkind == _JSON_TEXT:
                    out.append(w.content(part))
                elif bkind == _TOOL:
                    out.append(
                        w.delta({"tool_calls": [{"index": tidx, "function": {"arguments": part}}]})
                    )
            elif dkind == "thinking_delta":
                out.append(w.delta({"reasoning_content": delta.get("thinking", "")}))
        elif kind == "content_block_start" and w is not None:
            block = ev.get("content_block") or {}
            btype = block.get("type")
            idx = ev.get("index", -1)
            if btype == "text":
                self._blocks[idx] = (_TEXT, -1)
                if block.get("text"):
                    out.append(w.content(block["text"]))
            elif btype == "tool_use":
                if self._json_tool is not None and block.get("name") == self._json_tool:
                    self._blocks[idx] = (_JSON_TEXT, -1)
                    return
                tidx = self._n_tools
                self._n_tools += 1
                self._blocks[idx] = (_TOOL, tidx)
                call = {
                    "index": tidx,
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": ""},
                }
                out.append(w.delta({"tool_calls": [call]}))
            elif btype == "thinking":
                self._blocks[idx] = (_THINKING, -1)
            else:
                self._blocks[idx] = (_OTHER, -1)
        elif kind == "message_start":
            msg = ev.get("message") or {}
            self._usage_raw = merge_anthropic_usage(self._usage_raw, msg.get("usage"))
            model = self._model or msg.get("model", "")
            self._writer = ChunkWriter("chatcmpl-" + str(msg.get("id", "")), self._created, model)
            self._gate.head = self._writer.delta({"role": "assistant", "content": ""})
        elif kind == "message_delta":
            self._usage_raw = merge_anthropic_usage(self._usage_raw, ev.get("usage"))
            reason = (ev.get("delta") or {}).get("stop_reason")
            if reason is not None:
                self._stop_reason = reason
        elif kind == "message_stop":
            if w is None:
                self._fail("upstream stream had no message_start", MALFORMED_CODE, out)
                return
            reason = self._stop_reason
            if reason == "tool_use" and self._n_tools == 0:
                reason = "end_turn"  # only the forced JSON tool was called
            out.append(w.finish(FINISH_REASON.get(reason, "stop")))
            usage = self.usage
            if self._include_usage and usage is not None:
                out.append(w.usage(openai_usage(usage)))
            out.append(DONE)
            self.complete = True
        elif kind == "error":
            err = classify_anthropic(0, data)
            self._fail(err.message, err.raw_type or "upstream_error", out)
        # ping, content_block_stop and unknown events produce nothing
