"""Incremental Server-Sent Events boundary scanning.

The relay forwards *whole events* as soon as they are complete, so a client
never sees half an event and the relay can look inside the few events that
matter (usage, terminal) without parsing the rest. Boundaries are found with
``bytes.rfind`` on each read (C speed); events are split apart only when the
caller needs to inspect them.
"""

from __future__ import annotations

from typing import Final

from ferrogate._fastpath.bytes_search import find, rfind

# What ends an event: a blank line, in any of the three line endings SSE allows.
_TERMINATORS: Final[tuple[bytes, ...]] = (b"\r\n\r\n", b"\n\n", b"\r\r")


def _last_boundary_end(buf: bytes) -> int:
    """End index of the last complete event in ``buf`` (0 when none)."""
    lf = rfind(buf, b"\n\n")
    end = lf + 2 if lf >= 0 else 0
    if find(buf, b"\r") != -1:  # find() is memchr; ``in`` is several times slower here
        crlf = rfind(buf, b"\r\n\r\n")
        if crlf >= 0 and crlf + 4 > end:
            end = crlf + 4
        cr = rfind(buf, b"\r\r")  # SSE's third line ending: a stream of bare CRs
        if cr >= 0 and cr + 2 > end:
            end = cr + 2
    return end


class EventSplitter:
    """Buffers a partial trailing event; returns the bytes of complete events."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        """Whole events available after ``data`` (maybe b""); keeps the remainder."""
        if not self._pending and data.endswith(b"\n\n"):
            return data  # the usual read: whole events (a blank line ends it, LF or CRLF)
        buf = self._pending + data if self._pending else data
        end = _last_boundary_end(buf)
        if end == len(buf):
            self._pending = b""
            return buf
        self._pending = buf[end:]
        return buf[:end]

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet terminated by a blank line."""
        return self._pending


def split_events(block: bytes) -> list[bytes]:
    """Split a block of complete events into single events (terminators kept); bytes after
    the last terminator are not an event yet and are left out.

    Each event ends at the earliest terminator. LF-only blocks (the norm) are one
    ``split``; others are scanned with ``find``, remembering where each terminator occurs
    next so no byte is searched twice for it (a lazy regular expression spent 18 ns a byte)."""
    if find(block, b"\r") == -1:
        parts = block.split(b"\n\n")
        parts.pop()
        return [part + b"\n\n" for part in parts]
    events: list[bytes] = []
    start = 0
    upcoming = [find(block, term) for term in _TERMINATORS]
    while True:
        best = -1
        size = 0
        for i in range(3):
            at = upcoming[i]
            if 0 <= at < start:  # inside the event just taken: look again from its end
                at = upcoming[i] = find(block, _TERMINATORS[i], start)
            if at != -1 and (best == -1 or at < best):
                best = at
                size = len(_TERMINATORS[i])
        if best == -1:
            return events
        events.append(block[start : best + size])
        start = best + size


def event_data(event: bytes) -> bytes:
    """The event's ``data:`` payload (multi-line data joined with newlines)."""
    if event.startswith(b"data: ") and find(event, b"\n") == len(event) - 2 and event[-1] == 10:
        return event[6:-2]  # the common shape: one ``data: ...`` line and a blank line
    parts: list[bytes] = []
    for line in event.splitlines():
        if line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(parts)


def event_name(event: bytes) -> bytes | None:
    """The event's ``event:`` field, or None."""
    if event.startswith(b"event:") and find(event, b"\r") == -1:  # the usual shape: the first line
        end = find(event, b"\n")
        return (event[6:end] if end != -1 else event[6:]).strip()
    for line in event.splitlines():
        if line.startswith(b"event:"):
            return line[6:].strip()
    return None


def event_bounds(block: bytes, pos: int) -> tuple[int, int]:
    """Span of the whole event containing ``pos`` in a block of complete events."""
    lf = rfind(block, b"\n\n", 0, pos)
    start = lf + 2 if lf >= 0 else 0
    crlf = rfind(block, b"\r\n\r\n", 0, pos)
    if crlf >= 0 and crlf + 4 > start:
        start = crlf + 4
    lf_end = find(block, b"\n\n", pos)
    end = lf_end + 2 if lf_end >= 0 else len(block)
    crlf_end = find(block, b"\r\n\r\n", pos)
    if crlf_end >= 0 and crlf_end + 4 < end:
        end = crlf_end + 4
    return start, end
