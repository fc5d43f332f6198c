"""Incremental SSE event parsing for the translators.

Only the bytes that arrived since the last call are scanned for line ends, so a
long stream is never re-split. Lines end in LF or CRLF (a CR at the end of a read
waits for the next read). ``data:`` lines of one event are joined with LF as the
SSE spec says; comment lines (``: keep-alive``) are skipped.
"""

from __future__ import annotations


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

    __slots__ = ("_buf", "_data", "_has_data", "_name", "_scan")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # offset in _buf from which no LF has been seen yet
        self._name = b""
        self._data: list[bytes] = []
        self._has_data = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buf = self._buf
        buf += chunk
        events: list[SseEvent] = []
        start = 0
        find = buf.find
        pos = find(b"\n", self._scan)
        while pos != -1:
            end = pos - 1 if pos > start and buf[pos - 1] == 13 else pos
            self._line(bytes(buf[start:end]), events)
            start = pos + 1
            pos = find(b"\n", start)
        if start:
            del buf[:start]
        self._scan = len(buf)
        return events

    def flush(self) -> list[SseEvent]:
        """EOF. As the SSE spec says, an event not ended by a blank line is discarded."""
        self._buf.clear()
        self._scan = 0
        self._name = b""
        self._data = []
        self._has_data = False
        return []

    def _line(self, line: bytes, events: list[SseEvent]) -> None:
        if not line:
            if self._has_data:
                events.append(SseEvent(self._name, b"\n".join(self._data)))
            self._name = b""
            self._data = []
            self._has_data = False
            return
        if line[0] == 58:  # ":" comment
            return
        colon = line.find(b":")
        if colon == -1:
            field, value = line, b""
        else:
            field = line[:colon]
            value = line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if field == b"data":
            self._data.append(value)
            self._has_data = True
        elif field == b"event":
            self._name = value
