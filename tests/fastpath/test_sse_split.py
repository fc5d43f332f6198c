"""Splitting a block of SSE events apart, and reading an event's name: the same answers as
the definitions they follow (an event ends at its first blank line, in any of SSE's three
line endings; the name is the first ``event:`` line's value), for any bytes."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath.sse import EventSplitter, event_name, split_events

# The definition, written the slow way: the shortest run of bytes up to a terminator.
REFERENCE_EVENT = re.compile(rb".*?(?:\r\n\r\n|\n\n|\r\r)", re.DOTALL)

sse_bytes = st.lists(st.sampled_from([b"a", b"data: x", b"event: y", b":", b" ", b"\r", b"\n", b"\r\n"]),
                     max_size=40).map(b"".join)


def reference_name(event: bytes) -> bytes | None:
    for line in event.splitlines():
        if line.startswith(b"event:"):
            return line[6:].strip()
    return None


@settings(max_examples=400, deadline=None)
@given(sse_bytes)
def test_split_events_ends_each_event_at_its_first_terminator(block: bytes) -> None:
    assert split_events(block) == REFERENCE_EVENT.findall(block)


@settings(max_examples=300, deadline=None)
@given(sse_bytes)
def test_event_name_is_the_first_event_line_value(event: bytes) -> None:
    assert event_name(event) == reference_name(event)


def test_lf_events_are_split_with_their_blank_lines_kept() -> None:
    block = b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\n"
    assert split_events(block) == [b"event: a\ndata: 1\n\n", b"event: b\ndata: 2\n\n"]


def test_an_unterminated_event_at_the_end_is_left_out() -> None:
    assert split_events(b"data: 1\n\ndata: 2\n") == [b"data: 1\n\n"]
    assert split_events(b"data: 1\r\n\r\ndata: 2\r\n") == [b"data: 1\r\n\r\n"]


def test_mixed_line_endings_end_each_event_at_the_earliest_blank_line() -> None:
    block = b"data: 1\r\n\r\ndata: 2\n\ndata: 3\r\rdata: 4\r\n\n"
    assert split_events(block) == [b"data: 1\r\n\r\n", b"data: 2\n\n", b"data: 3\r\r", b"data: 4\r\n\n"]


def test_an_event_name_after_a_data_line_or_with_crlf_is_found() -> None:
    assert event_name(b"data: {}\nevent: late\n\n") == b"late"
    assert event_name(b"event: crlf \r\ndata: {}\r\n\r\n") == b"crlf"
    assert event_name(b"event:bare") == b"bare"
    assert event_name(b"data: {}\n\n") is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"\n", b"\r\n", b"\r"]), st.lists(st.integers(1, 3), min_size=1, max_size=6),
       st.lists(st.integers(0, 400), max_size=10))
def test_the_splitter_releases_each_event_once_its_blank_line_arrives(eol: bytes, lines: list[int], cuts: list[int]) -> None:
    """Whatever the stream's line ending (SSE allows LF, CRLF and bare CR), a read that
    completes an event releases it: what is held back never holds a whole event."""
    events = [b"".join(b"data: %d-%d%s" % (i, j, eol) for j in range(n)) + eol for i, n in enumerate(lines)]
    stream = b"".join(events)
    ends = sorted({min(c, len(stream)) for c in cuts} | {len(stream)})
    splitter = EventSplitter()
    released = b""
    start = 0
    for end in ends:
        released += splitter.feed(stream[start:end])
        start = end
        assert released == b"".join(REFERENCE_EVENT.findall(stream[:end]))
    assert released == stream and splitter.pending == b""
