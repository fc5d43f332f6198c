"""Incremental SSE event parsing for the translators.

Only the bytes that arrived since the last call are scanned for the blank line
that ends an event, so a long stream is never re-split. A read made only of the
common event shapes (``data: X`` and ``event: N`` + ``data: X``) is split by two
regex passes in C, with no Python step per event; anything else (comments,
multi-line data, other fields) goes through the general line parser. CRLF and lone CR line ends are normalised to LF as they
arrive (a CR at the end of a read waits for the next read to know whether an LF
follows). ``data:`` lines of one event are joined with LF, as the SSE spec says.
"""

from __future__ import annotations

import re

# An event of the usual shapes: ``data: X`` or ``event: N`` + ``data: X``, one line each.
_SIMPLE = re.compile(rb"(?:event: ([^\n]*)\n)?data: ([^\n]*)\n\n")


class SseEvent:
    """One dispatched SSE event: its ``event:`` name (b"" when absent) and its data."""

    __slots__ = ("data", "name")

    def __init__(self, name: bytes, data: bytes) -> None:
        self.name = name
        self.data = data

    def __repr__(self) -> str:
        return f"SseEvent({self.name!r}, {self.data!r})"


class SseParser:
    """Feed raw bytes in any split; get complete events out."""

    __slots__ = ("_buf", "_cr", "_scan")

    def __init__(self) -> None:
        self._buf = b""
        self._scan = 0  # offset in _buf before which no event boundary exists
        self._cr = False  # the previous read ended with CR

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if chunk.find(b"\r") != -1:  # find() is memchr; ``in`` is several times slower
            if chunk.endswith(b"\r"):
                chunk = chunk[:-1]
                self._cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + chunk if self._buf else chunk
        last = buf.rfind(b"\n\n", self._scan)
        if last == -1:
            self._buf = buf
            self._scan = max(0, len(buf) - 1)
            return []
        end = last + 2
        region = buf[:end] if end < len(buf) else buf
        if not _SIMPLE.sub(b"", region):
            # Every event here has the usual shape: split them all in C (two regex passes)
            # instead of a Python step per event.
            events = [SseEvent(name, data) for name, data in _SIMPLE.findall(region)]
        else:
            events = []
            start = 0
            pos = region.find(b"\n\n")
            while pos != -1:
                if pos > start:
                    self._block(region[start:pos], events)
                start = pos + 2
                pos = region.find(b"\n\n", start)
        rest = buf[end:]
        # skip blank lines between events so a lone trailing LF cannot hide the next boundary
        self._buf = rest.lstrip(b"\n") if rest[:1] == b"\n" else rest
        self._scan = max(0, len(self._buf) - 1)
        return events

    def flush(self) -> list[SseEvent]:
        """EOF. As the SSE spec says, an event not ended by a blank line is discarded."""
        self._buf = b""
        self._scan = 0
        self._cr = False
        return []

    @staticmethod
    def _block(block: bytes, events: list[SseEvent]) -> None:
        if block.startswith(b"data: "):
            if block.find(b"\n") == -1:
                events.append(SseEvent(b"", block[6:]))
                return
        elif block.startswith(b"event: "):
            nl = block.find(b"\n")
            if nl != -1 and block.startswith(b"data: ", nl + 1) and block.find(b"\n", nl + 1) == -1:
                events.append(SseEvent(block[7:nl], block[nl + 7 :]))
                return
        _general(block, events)


def _general(block: bytes, events: list[SseEvent]) -> None:
    """Any event block, line by line (comments, multi-line data, unknown fields)."""
    name = b""
    data: list[bytes] = []
    has_data = False
    for line in block.split(b"\n"):
        if not line or line[0] == 58:  # ":" comment
            continue
        colon = line.find(b":")
        if colon == -1:
            field, value = line, b""
        else:
            field = line[:colon]
            value = line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if field == b"data":
            data.append(value)
            has_data = True
        elif field == b"event":
            name = value
    if has_data:
        events.append(SseEvent(name, b"\n".join(data)))
