"""Stream "translators" for upstreams that already speak the client's OpenAI wire format.

They forward whole SSE events unchanged and look inside only the events that
can matter: a usage-bearing chunk (found with one regex search per read) and
the terminal event. When the gateway itself added
``stream_options.include_usage`` the client did not ask for, the usage-only
chunk (``"choices":[]``) is captured and dropped from the client's stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar, Final

from ferrogate._fastpath.bytes_search import count, find, mentions, rfind
from ferrogate._fastpath.sse import (
    EventSplitter,
    event_bounds,
    event_data,
    event_name,
    split_events,
)
from ferrogate.ai.usage import Usage
from ferrogate.ai.usage_openai import chat_usage, responses_event_usage
from ferrogate.errors import ErrorFlavor, ErrorSource, GatewayError, sse_error_event

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_UPSTREAM_SOURCE: Final = ErrorSource.UPSTREAM
_RESPONSES_FLAVOR: Final = ErrorFlavor.RESPONSES

_USAGE_VALUE: Final = re.compile(rb"\s*:\s*\{")  # after the key "usage": an object, not null
_EMPTY_CHOICES: Final = re.compile(rb'"choices"\s*:\s*\[\s*\]')


def _find_usage_object_py(block: bytes, start: int) -> int:
    """Index of the first ``"usage"`` key at or after ``start`` whose value is an object, or -1
    (``"usage":null`` rides on every chunk of a stream that asked for usage)."""
    at = find(block, b'"usage"', start)
    while at != -1 and _USAGE_VALUE.match(block, at + 7) is None:
        at = find(block, b'"usage"', at + 7)
    return at


find_usage_object: Callable[[bytes, int], int] = _find_usage_object_py
try:  # the C relay's scan: memmem, 4x faster than bytes.find through JSON
    from ferrogate._fastpath._sse_relay import find_usage_object as _find_native

    find_usage_object = _find_native
except ImportError:  # not built (make compiled)
    pass


def _event_span(block: bytes, pos: int) -> tuple[int, int]:
    """Span of the event holding ``pos``; LF-only blocks (the norm) skip the CRLF scans."""
    if find(block, b"\r") != -1:  # find() is memchr; ``in`` is several times slower here
        return event_bounds(block, pos)
    return _lf_event_span(block, pos)


def _lf_event_span(block: bytes, pos: int) -> tuple[int, int]:
    """Span of the event holding ``pos`` in a block with no CR: between the blank lines around it."""
    start = rfind(block, b"\n\n", 0, pos)
    end = find(block, b"\n\n", pos)
    return (start + 2 if start >= 0 else 0), (end + 2 if end >= 0 else len(block))


def _done_at(block: bytes, at: int) -> bool:
    """True when the ``[DONE]`` at ``at`` is a ``data: [DONE]`` line, not text in a chunk."""
    line_start = rfind(block, b"\n", 0, at) + 1
    return block[line_start:at].rstrip() == b"data:"


_RESPONSES_TERMINAL: Final[tuple[bytes, ...]] = (b"response.completed", b"response.incomplete", b"response.failed")


def _events_at(block: bytes, named: list[int]) -> list[bytes]:
    """The events of ``block`` holding the places ``named`` (where a terminal event's name
    occurs), in order. No other event can be terminal (a terminal event names itself in its
    ``event:`` line, an unnamed one in its data), so the deltas before them are never split
    apart or read. In an LF-only block (the norm) each is cut between the blank lines around
    its place (after a run of three or more newlines the cut may leave out a leading newline
    that splitting keeps: an empty line, which reading the event skips); other line endings
    are split whole. ``block`` is the splitter's: it ends with a whole event."""
    if find(block, b"\r") != -1:
        return split_events(block)
    events: list[bytes] = []
    taken = 0  # the end of the last event taken: another place in it is skipped
    for at in named:
        if at >= taken:
            start, taken = _lf_event_span(block, at)
            events.append(block[start:taken])
    return events


def truncated_error() -> GatewayError:
    return GatewayError(
        502,
        "the upstream stream ended before its terminal event",
        code="upstream_stream_truncated",
        source=_UPSTREAM_SOURCE,
    )


def event_too_large(limit: int) -> GatewayError:
    return GatewayError(
        502,
        f"the provider sent more than {limit} bytes without ending an event (reliability.provider_stream_max_event_bytes)",
        code="upstream_event_too_large",
        source=_UPSTREAM_SOURCE,
    )


class ChatPassthrough:
    """OpenAI chat-completions SSE, relayed as is."""

    __slots__ = ("_complete", "_split", "_strip_usage", "_usage")

    # For the C relay (pipeline.native_handover): the blocks feed must still see.
    native_markers: ClassVar[tuple[bytes, ...]] = (b"[DONE]",)
    native_usage_object: ClassVar[bool] = True  # and a "usage": {...} (not the usage:null of every chunk)
    native_count: ClassVar[bytes] = b""

    def __init__(self, *, strip_usage: bool) -> None:
        self._split = EventSplitter()
        self._strip_usage = strip_usage
        self._usage: Usage | None = None
        self._complete = False

    def feed(self, data: bytes) -> bytes:
        block = self._split.feed(data)
        if not block:
            return b""
        if not self._complete:
            at = rfind(block, b"[DONE]")
            if at != -1 and _done_at(block, at):
                self._complete = True
        # The rare events worth opening: a usage object (not the "usage":null of every chunk).
        usage_at = find_usage_object
        at = usage_at(block, 0)
        if at == -1:
            return block
        kept: list[bytes] = []
        done = 0
        while at != -1:
            start, end = _event_span(block, at)
            event = block[start:end]
            usage = chat_usage(event_data(event))
            if usage is not None:
                self._usage = usage
                # find, not ``in``: CPython 3.11's ``bytes in bytes`` first tries the needle as an
                # integer and formats the TypeError it drops (about 2,500 instructions).
                if self._strip_usage and (
                    find(event, b'"choices":[]') != -1 or _EMPTY_CHOICES.search(event) is not None
                ):
                    kept.append(block[done:start])
                    done = end
            at = usage_at(block, end)
        if not done:
            return block
        kept.append(block[done:])
        return b"".join(kept)

    def finish(self) -> bytes:
        return b"" if self._complete else sse_error_event(truncated_error())

    @property
    def at_event_end(self) -> bool:
        """No event is half fed: blocks of whole events may be fed from here on."""
        return not self._split.pending

    def relayed_natively(self, counted: int) -> None:
        """The C relay wrote blocks without feed: nothing here depends on them."""

    @property
    def usage(self) -> Usage | None:
        return self._usage

    @property
    def complete(self) -> bool:
        return self._complete


class ResponsesPassthrough:
    """OpenAI Responses typed events, relayed as is; ``response.completed`` (or
    ``.incomplete``/``.failed``) is the terminal event and carries the usage."""

    __slots__ = ("_complete", "_events", "_split", "_usage")

    native_markers: ClassVar[tuple[bytes, ...]] = _RESPONSES_TERMINAL
    native_usage_object: ClassVar[bool] = False
    native_count: ClassVar[bytes] = b"data:"  # what feed counts, for an error event's sequence number

    def __init__(self) -> None:
        self._split = EventSplitter()
        self._usage: Usage | None = None
        self._complete = False
        self._events = 0

    def feed(self, data: bytes) -> bytes:
        block = self._split.feed(data)
        if not block:
            return b""
        self._events += count(block, b"data:")
        named = mentions(block, _RESPONSES_TERMINAL)
        if named:
            for event in _events_at(block, named):
                name = event_name(event)
                if name in _RESPONSES_TERMINAL or name is None:
                    data_bytes = event_data(event)
                    if name is None and not any(find(data_bytes, t) != -1 for t in _RESPONSES_TERMINAL):
                        continue
                    usage = responses_event_usage(data_bytes)
                    if usage is not None:
                        self._usage = usage
                    self._complete = True
        return block

    def finish(self) -> bytes:
        if self._complete:
            return b""
        return sse_error_event(truncated_error(), _RESPONSES_FLAVOR, self._events)

    @property
    def at_event_end(self) -> bool:
        return not self._split.pending

    def relayed_natively(self, counted: int) -> None:
        """The C relay wrote blocks without feed, holding ``counted`` events."""
        self._events += counted

    @property
    def usage(self) -> Usage | None:
        return self._usage

    @property
    def complete(self) -> bool:
        return self._complete
