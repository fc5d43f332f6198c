"""Anthropic SSE relayed unchanged to an Anthropic client, with usage and the terminal event watched.

Events are forwarded byte for byte as soon as they are complete; only
``message_start`` and ``message_delta`` payloads are parsed (for usage). EOF
before ``message_stop`` appends an Anthropic ``error`` event.
"""

from __future__ import annotations

import orjson

from ferrogate.ai.translate.anthropic_response import merge_anthropic_usage, usage_from_anthropic
from ferrogate.ai.translate.common import Json, stream_error
from ferrogate.ai.usage import Usage
from ferrogate.errors import ErrorFlavor

_USAGE_EVENTS = (b"message_start", b"message_delta")


class AnthropicRelayStream:
    """Pass-through of Anthropic SSE: whole events out, usage and completion tracked."""

    __slots__ = ("_buf", "_failed", "_scan", "_usage_raw", "complete")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._usage_raw: Json = {}
        self._failed = False
        self.complete = False

    @property
    def usage(self) -> Usage | None:
        return usage_from_anthropic(self._usage_raw)

    @property
    def failed(self) -> bool:
        return self._failed

    def feed(self, data: bytes) -> bytes:
        buf = self._buf
        buf += data
        out = bytearray()
        start = 0
        while True:
            end = self._boundary(buf, max(start, self._scan - 3))
            if end == -1:
                break
            event = bytes(buf[start:end])
            self._inspect(event)
            out += event
            start = end
        if start:
            del buf[:start]
        self._scan = len(buf)
        return bytes(out)

    def finish(self) -> bytes:
        tail = bytes(self._buf)
        self._buf.clear()
        if self.complete or self._failed:
            return tail if self.complete else b""
        self._failed = True
        return stream_error(
            "upstream stream ended before message_stop",
            code="stream_truncated",
            flavor=ErrorFlavor.ANTHROPIC,
        )

    @staticmethod
    def _boundary(buf: bytearray, start: int) -> int:
        """End offset (after the blank line) of the first complete event at or after ``start``."""
        a = buf.find(b"\n\n", start)
        b = buf.find(b"\r\n\r\n", start)
        if a == -1 and b == -1:
            return -1
        if b != -1 and (a == -1 or b < a):
            return b + 4
        return a + 2

    def _inspect(self, event: bytes) -> None:
        name = b""
        data = b""
        for line in event.splitlines():
            if line.startswith(b"event:"):
                name = line[6:].strip()
            elif line.startswith(b"data:"):
                data = line[5:].strip()
        if name == b"message_stop":
            self.complete = True
        elif name == b"error":
            self._failed = True
        elif name in _USAGE_EVENTS and data:
            try:
                ev = orjson.loads(data)
            except orjson.JSONDecodeError:
                return
            usage = (
                (ev.get("message") or {}).get("usage")
                if name == b"message_start"
                else ev.get("usage")
            )
            self._usage_raw = merge_anthropic_usage(self._usage_raw, usage)
