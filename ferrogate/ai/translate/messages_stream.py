"""OpenAI chat-completion chunks → Anthropic Messages SSE (a StreamTranslator).

Emits ``message_start`` on the first chunk, opens a content block whenever the
kind of output changes (thinking, text, one block per tool call), relays tool
arguments as ``input_json_delta``, and at ``[DONE]`` closes the open block and
sends ``message_delta`` (stop_reason and the final usage) then ``message_stop``.
A stream that ends without ``[DONE]`` and without a finish_reason, or that carries
an error, ends with an Anthropic ``error`` event instead.
"""

from __future__ import annotations

import re

import orjson

from ferrogate.ai.translate.common import Json, is_json_string, named_event, stream_error
from ferrogate.ai.translate.messages_inbound import STOP_REASON, anthropic_usage_from_openai
from ferrogate.ai.translate.sse_translator import ChatChunkTranslator
from ferrogate.errors import ErrorFlavor

_NONE, _TEXT, _THINKING, _TOOL = range(4)
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
_TEXT_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
# Fast path for the commonest chunk: text only, for choice 0, not the last. Its JSON string
# literal is reused as is (no decode/encode round trip); the fields before "choices" (id,
# model, created...) are not needed, unless one is "usage" or "error" (the general path).
_CONTENT_ONLY = re.compile(
    rb'"choices":\[\{"index":0,"delta":\{"content":("(?:[^"\\]|\\.)*")\}'
    rb'(?:,"logprobs":null)?,"finish_reason":null\}\](?:,"usage":null)?\}$'
)


class OpenAIToAnthropicStream(ChatChunkTranslator):
    """Feed OpenAI chat SSE bytes, get Anthropic Messages SSE bytes."""

    __slots__ = (
        "_block",
        "_block_kind",
        "_model",
        "_msg_id",
        "_text_head",
        "_tool_blocks",
    )

    def __init__(self, *, model: str, msg_id: str) -> None:
        super().__init__()
        self._model = model
        self._msg_id = msg_id
        self._block = -1  # index of the open block, -1 when none
        self._block_kind = _NONE
        self._text_head = b""  # pre-encoded start of a text_delta event for the open text block
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool index → Anthropic block index

    # ------------------------------------------------------------------ internals

    def _fail(self, message: str, code: str, out: list[bytes]) -> None:
        self._failed = True
        self._gate.pending_error = stream_error(message, code=code, flavor=ErrorFlavor.ANTHROPIC)

    def _start(self, out: list[bytes]) -> None:
        self._started = True
        msg: Json = {
            "id": self._msg_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        self._gate.head = named_event(b"message_start", {"type": "message_start", "message": msg})

    def _close_block(self, out: list[bytes]) -> None:
        if self._block >= 0 and self._block_kind != _NONE:
            out.append(_BLOCK_STOP + str(self._block).encode() + b"}\n\n")
            self._block_kind = _NONE

    def _open(self, kind: int, block: Json, out: list[bytes]) -> int:
        self._close_block(out)
        self._block += 1
        self._block_kind = kind
        out.append(
            named_event(
                b"content_block_start",
                {"type": "content_block_start", "index": self._block, "content_block": block},
            )
        )
        return self._block

    def _delta(self, index: int, delta: Json) -> bytes:
        return _TEXT_DELTA + str(index).encode() + b',"delta":' + orjson.dumps(delta) + b"}\n\n"

    def _end(self, out: list[bytes]) -> None:
        if not self._started:
            self._start(out)
        self._close_block(out)
        usage = anthropic_usage_from_openai(self._usage_raw)
        delta = {"stop_reason": STOP_REASON.get(self._finish, "end_turn"), "stop_sequence": None}
        out.append(
            named_event(b"message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        self.complete = True

    def _event_unchecked(self, data: bytes, out: list[bytes]) -> None:
        if self._block_kind == _TEXT:
            m = _CONTENT_ONLY.search(data)
            if m is not None:
                head = m.start()
                raw = m.group(1)
                if (
                    len(raw) > 2  # an empty text adds no event (as in the general path)
                    and data.find(b'"usage"', 0, head) == -1
                    and data.find(b'"error"', 0, head) == -1
                    and is_json_string(raw)
                ):
                    out.append(self._text_head + raw + b"}}\n\n")
                    return
        super()._event_unchecked(data, out)

    def _choice_delta(self, delta: Json, out: list[bytes]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            idx = (
                self._block
                if self._block_kind == _THINKING
                else self._open(
                    _THINKING, {"type": "thinking", "thinking": "", "signature": ""}, out
                )
            )
            out.append(self._delta(idx, {"type": "thinking_delta", "thinking": reasoning}))
        text = delta.get("content")
        if text:
            if self._block_kind != _TEXT:
                idx = self._open(_TEXT, {"type": "text", "text": ""}, out)
                self._text_head = (
                    _TEXT_DELTA + str(idx).encode() + b',"delta":{"type":"text_delta","text":'
                )
            out.append(self._text_head + orjson.dumps(text) + b"}}\n\n")
        for tc in delta.get("tool_calls") or ():
            self._tool_delta(tc, out)

    def _tool_delta(self, tc: Json, out: list[bytes]) -> None:
        tidx = tc.get("index", 0)
        fn = tc.get("function") or {}
        idx = self._tool_blocks.get(tidx)
        if idx is None:
            block = {
                "type": "tool_use",
                "id": tc.get("id") or f"toolu_{self._msg_id}_{tidx}",
                "name": fn.get("name", ""),
                "input": {},
            }
            idx = self._open(_TOOL, block, out)
            self._tool_blocks[tidx] = idx
        args = fn.get("arguments")
        if args:
            out.append(self._delta(idx, {"type": "input_json_delta", "partial_json": args}))
