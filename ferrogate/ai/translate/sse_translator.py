"""The part every SSE stream translator shares: parse the upstream bytes into events,
turn each into output pieces, stop at the terminal event or the first failure, and
ship the pieces through an :class:`OutputGate` so an early failure stays clean.

Subclasses supply ``_event_unchecked`` (one upstream event → output pieces) and
``_eof`` (what EOF means for their protocol); ``_fail`` defaults to an OpenAI error
event. An event of the wrong shape (an exception while reading it) is a malformed
upstream stream, never a crash.
"""

from __future__ import annotations

import orjson

from ferrogate.ai.translate.common import Json, stream_error, usage_from_openai
from ferrogate.ai.translate.gate import OutputGate
from ferrogate.ai.translate.sse import SseParser
from ferrogate.ai.usage import Usage

MALFORMED = "upstream sent an invalid stream event"
MALFORMED_CODE = "bad_upstream_stream"

# what reading a syntactically valid event of the wrong shape (e.g. a list where an
# object belongs) raises
SHAPE_ERRORS = (AttributeError, TypeError, KeyError, ValueError)


class SseTranslator:
    __slots__ = ("_failed", "_gate", "_parser", "complete")

    def __init__(self) -> None:
        self._parser = SseParser()
        self._failed = False
        self._gate = OutputGate()
        self.complete = False

    @property
    def early_error(self) -> bytes:
        """The error event held back because the stream failed before any content."""
        return self._gate.early_error

    @property
    def failed(self) -> bool:
        return self._failed

    def feed(self, data: bytes) -> bytes:
        if self.complete or self._failed:
            return b""
        out: list[bytes] = []
        for ev in self._parser.feed(data):
            try:
                self._event_unchecked(ev.data, out)
            except SHAPE_ERRORS:
                self._malformed(out)
            if self.complete or self._failed:
                break
        return self._gate.ship(out)

    def finish(self) -> bytes:
        if self.complete or self._failed:
            return b""
        out: list[bytes] = []
        self._eof(out)
        return self._gate.ship(out)

    # ------------------------------------------------------------------ for subclasses

    def _event_unchecked(self, data: bytes, out: list[bytes]) -> None:
        raise NotImplementedError

    def _eof(self, out: list[bytes]) -> None:
        """Upstream EOF before the terminal event: end the stream or fail it."""
        raise NotImplementedError

    def _fail(self, message: str, code: str, out: list[bytes]) -> None:
        """Mark the stream failed; its error event goes out with this read's output."""
        self._failed = True
        self._gate.pending_error = stream_error(message, code=code)

    def _malformed(self, out: list[bytes]) -> None:
        self._fail(MALFORMED, MALFORMED_CODE, out)


class ChatChunkTranslator(SseTranslator):
    """An SSE translator whose upstream speaks OpenAI chat-completion chunks.

    It owns the chunk protocol (``[DONE]``, error chunks, usage, the finish_reason of
    choice 0); subclasses write the opening (``_start``), each delta of choice 0
    (``_choice_delta``) and the ending (``_end``).
    """

    __slots__ = ("_finish", "_started", "_usage_raw")

    # the error for an EOF before [DONE] and before any finish_reason
    _TRUNCATED = "upstream stream ended before it finished"
    _TRUNCATED_CODE = "stream_truncated"

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._finish: str | None = None
        self._usage_raw: Json | None = None

    @property
    def usage(self) -> Usage | None:
        return usage_from_openai(self._usage_raw)

    def _eof(self, out: list[bytes]) -> None:
        if self._finish is not None:  # some OpenAI-compatible servers omit [DONE]
            self._end(out)
        else:
            self._fail(self._TRUNCATED, self._TRUNCATED_CODE, out)

    def _event_unchecked(self, data: bytes, out: list[bytes]) -> None:
        if data == b"[DONE]":
            self._end(out)
            return
        chunk = orjson.loads(data)  # invalid JSON is a ValueError: a malformed stream
        if not isinstance(chunk, dict):
            raise TypeError("event is not an object")
        if "error" in chunk and not chunk.get("choices"):
            err = chunk.get("error") or {}
            self._fail(
                str(err.get("message") or "upstream error"),
                str(err.get("code") or "upstream_error"),
                out,
            )
            return
        if not self._started:
            self._start(out)
        if chunk.get("usage"):
            self._usage_raw = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            self._choice_delta(choice.get("delta") or {}, out)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]

    def _start(self, out: list[bytes]) -> None:
        raise NotImplementedError

    def _choice_delta(self, delta: Json, out: list[bytes]) -> None:
        raise NotImplementedError

    def _end(self, out: list[bytes]) -> None:
        raise NotImplementedError
