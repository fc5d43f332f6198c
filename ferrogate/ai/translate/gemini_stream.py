"""Gemini ``streamGenerateContent?alt=sse`` → OpenAI chat-completion chunks.

Every Gemini event is a whole ``GenerateContentResponse`` holding the new parts;
function calls arrive complete, so each becomes one tool-call delta carrying its
full arguments. Gemini has no terminal event: the stream counts as complete once
a candidate carried a ``finishReason``; the usage chunk and ``[DONE]`` are written
at EOF (usageMetadata is cumulative, the last one wins). EOF before any
finishReason yields an OpenAI error event.
"""

from __future__ import annotations

import time

import orjson

from ferrogate.ai.translate.common import DONE, Json, openai_usage
from ferrogate.ai.translate.errors import classify_gemini
from ferrogate.ai.translate.gemini_response import call_id_for, finish_reason, usage_from_gemini
from ferrogate.ai.translate.openai_chunks import ChunkWriter
from ferrogate.ai.translate.sse_translator import SHAPE_ERRORS, SseTranslator
from ferrogate.ai.usage import Usage


class GeminiToOpenAIStream(SseTranslator):
    """Feed Gemini SSE bytes, get OpenAI chunk SSE bytes."""

    __slots__ = (
        "_chat_id",
        "_created",
        "_include_usage",
        "_meta",
        "_model",
        "_n_tools",
        "_writer",
    )

    def __init__(
        self, *, include_usage: bool, model: str, chat_id: str, created: int | None = None
    ) -> None:
        super().__init__()
        self._include_usage = include_usage
        self._model = model
        self._chat_id = chat_id
        self._created = created if created is not None else int(time.time())
        self._writer: ChunkWriter | None = None
        self._n_tools = 0
        self._meta: Json | None = None

    @property
    def usage(self) -> Usage | None:
        return usage_from_gemini(self._meta)

    def feed(self, data: bytes) -> bytes:
        # Gemini has no terminal event: usage may still follow the finishReason, so a
        # complete stream keeps being read
        if self._failed:
            return b""
        out: list[bytes] = []
        for ev in self._parser.feed(data):
            try:
                self._event_unchecked(ev.data, out)
            except SHAPE_ERRORS:
                self._malformed(out)
            if self._failed:
                break
        return self._gate.ship(out)

    def finish(self) -> bytes:
        if self._failed:
            return b""
        if not self.complete:
            self._fail("upstream stream ended before a finishReason", "stream_truncated", [])
            return self._gate.ship([])
        assert self._writer is not None
        usage = self.usage
        tail = (
            self._writer.usage(openai_usage(usage))
            if self._include_usage and usage is not None
            else b""
        )
        return self._gate.ship([tail + DONE])

    def _event_unchecked(self, data: bytes, out: list[bytes]) -> None:
        ev = orjson.loads(data)  # invalid JSON is a ValueError: a malformed stream
        if isinstance(ev, list) and ev:
            ev = ev[0]
        if not isinstance(ev, dict):
            return
        if "error" in ev:
            err = classify_gemini(0, data)
            self._fail(err.message, err.raw_type or "upstream_error", out)
            return
        w = self._writer
        if w is None:
            w = self._writer = ChunkWriter(
                self._chat_id, self._created, ev.get("modelVersion") or self._model
            )
            self._gate.head = w.delta({"role": "assistant", "content": ""})
        if ev.get("usageMetadata"):
            self._meta = ev["usageMetadata"]
        cands = ev.get("candidates")
        if not cands:
            if (ev.get("promptFeedback") or {}).get("blockReason") and not self.complete:
                out.append(w.finish("content_filter"))
                self.complete = True
            return
        cand = cands[0]
        for part in (cand.get("content") or {}).get("parts") or ():
            fc = part.get("functionCall")
            if fc is not None:
                idx = self._n_tools
                self._n_tools += 1
                call = {
                    "index": idx,
                    "id": call_id_for(part, self._chat_id, idx),
                    "type": "function",
                    "function": {
                        "name": fc.get("name", ""),
                        "arguments": orjson.dumps(fc.get("args") or {}).decode(),
                    },
                }
                out.append(w.delta({"tool_calls": [call]}))
            elif "text" in part:
                text = part["text"]
                if not text:
                    continue
                if part.get("thought"):
                    out.append(w.delta({"reasoning_content": text}))
                else:
                    out.append(w.content(text))
        raw = cand.get("finishReason")
        if raw and not self.complete:
            out.append(w.finish(finish_reason(raw, self._n_tools > 0)))
            self.complete = True
