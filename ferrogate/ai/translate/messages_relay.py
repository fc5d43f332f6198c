"""Anthropic SSE relayed unchanged to an Anthropic client, with usage and the terminal event watched.

Each read is forwarded up to its last complete event in one slice (no per-event
work for the many ``content_block_delta`` events); only the few events that
matter (``message_start``/``message_delta`` for usage, ``message_stop``,
``error``) are located with ``find`` and parsed. EOF before ``message_stop``
appends an Anthropic ``error`` event.
"""

from __future__ import annotations

from typing import ClassVar

import orjson

from ferrogate.ai.translate.anthropic_response import merge_anthropic_usage, usage_from_anthropic
from ferrogate.ai.translate.common import Json, stream_error
from ferrogate.ai.usage import Usage
from ferrogate.errors import ErrorFlavor

_WATCH = (b"event: message_", b"event: error")


class AnthropicRelayStream:
    """Pass-through of Anthropic SSE: whole events out, usage and completion tracked."""

    __slots__ = ("_buf", "_failed", "_held", "_usage_raw", "complete", "early_error")

    # For the C relay (pipeline.native_handover): the blocks feed must still see.
    native_markers: ClassVar[tuple[bytes, ...]] = _WATCH
    native_usage_object: ClassVar[bool] = False
    native_count: ClassVar[bytes] = b""

    def __init__(self) -> None:
        self._buf = b""
        # message_start/ping are held until content starts, so a failure before any content
        # leaves the client untouched and the relay can still fall back (see gate.py)
        self._held: bytes | None = b""
        self.early_error = b""
        self._usage_raw: Json = {}
        self._failed = False
        self.complete = False

    @property
    def usage(self) -> Usage | None:
        return usage_from_anthropic(self._usage_raw)

    @property
    def failed(self) -> bool:
        return self._failed

    @property
    def at_event_end(self) -> bool:
        """Content has started (nothing held back) and no event is half fed."""
        return self._held is None and not self._buf

    def relayed_natively(self, counted: int) -> None:
        """The C relay wrote blocks without feed: nothing here depends on them."""

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        scan_from = max(0, len(self._buf) - 3)
        lf = buf.rfind(b"\n\n", scan_from)
        crlf = buf.rfind(b"\r\n\r\n", scan_from)
        end = max(lf + 2 if lf != -1 else 0, crlf + 4 if crlf != -1 else 0)
        if end == 0:
            self._buf = buf
            return b""
        region = buf[:end]
        self._buf = buf[end:]
        for marker in _WATCH:
            at = region.find(marker)
            while at != -1:
                if at == 0 or region[at - 1] == 10:  # at a line start
                    self._inspect(region, at)
                at = region.find(marker, at + 1)
        held = self._held
        if held is None:
            return region
        if (
            self.complete
            or region.find(b"event: content_block_start") >= 0  # find: see paths.needs_normalising
            or region.find(b"event: message_delta") >= 0
        ):
            self._held = None
            return held + region
        if self._failed:
            self.early_error = region
            return b""
        self._held = held + region
        return b""

    def finish(self) -> bytes:
        tail = self._buf
        self._buf = b""
        if self.complete:
            return tail
        if self._failed:
            return b""
        self._failed = True
        return stream_error(
            "upstream stream ended before message_stop",
            code="stream_truncated",
            flavor=ErrorFlavor.ANTHROPIC,
        )

    def _inspect(self, region: bytes, at: int) -> None:
        nl = region.find(b"\n", at)
        name = region[at + 7 : nl].rstrip(b"\r")
        if name == b"message_stop":
            self.complete = True
        elif name == b"error":
            self._failed = True
        elif name in (b"message_start", b"message_delta"):
            ends = [e for e in (region.find(b"\n\n", nl), region.find(b"\r\n\r\n", nl)) if e != -1]
            block = region[nl + 1 : min(ends) if ends else len(region)]
            data = b"".join(
                line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:")
            )
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
