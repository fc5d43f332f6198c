"""The translators' SSE parser: same events whatever the shapes and the read splits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ferrogate.ai.translate.sse import SseEvent, SseParser


def parse(*reads: bytes) -> list[tuple[bytes, bytes]]:
    parser = SseParser()
    out: list[SseEvent] = []
    for r in reads:
        out += parser.feed(r)
    return [(e.name, e.data) for e in out]


def test_a_block_of_usual_events_yields_each_name_and_data() -> None:
    block = b'event: a\ndata: {"x":1}\n\ndata: {"y":2}\n\nevent: b\ndata: [DONE]\n\n'
    assert parse(block) == [(b"a", b'{"x":1}'), (b"", b'{"y":2}'), (b"b", b"[DONE]")]


def test_unusual_events_in_a_block_follow_the_sse_rules() -> None:
    block = (
        b"data: plain\n\n"
        b": a comment\ndata: after comment\n\n"
        b"data:no space\n\n"
        b"event: multi\ndata: one\ndata: two\n\n"
        b"retry: 10\n\n"  # no data: dispatches nothing
        b"id: 7\nevent: withid\ndata: x\n\n"
    )
    assert parse(block) == [
        (b"", b"plain"),
        (b"", b"after comment"),
        (b"", b"no space"),
        (b"multi", b"one\ntwo"),
        (b"withid", b"x"),
    ]


def test_crlf_line_ends_give_the_same_events_as_lf() -> None:
    lf = b"event: a\ndata: 1\n\ndata: 2\n\n"
    assert parse(lf.replace(b"\n", b"\r\n")) == parse(lf)


def test_an_unterminated_event_waits_for_its_blank_line() -> None:
    parser = SseParser()
    assert [(e.name, e.data) for e in parser.feed(b"data: 1\n\ndata: 2")] == [(b"", b"1")]
    assert [(e.name, e.data) for e in parser.feed(b"\n\n")] == [(b"", b"2")]


def test_extra_blank_lines_between_events_are_ignored() -> None:
    assert parse(b"data: 1\n\n\n\ndata: 2\n\n") == [(b"", b"1"), (b"", b"2")]


# Named functions, not lambdas: hypothesis describes a lambda by parsing this file's source,
# which CPython 3.11 can fail deep in a run ("AST constructor recursion depth mismatch").


def _one_line(b: bytes) -> bool:
    return b"\n" not in b and b"\r" not in b


def _data_event(d: bytes) -> tuple[bytes, tuple[bytes, bytes]]:
    return b"data: " + d + b"\n\n", (b"", d)


def _named_event(n: bytes, d: bytes) -> tuple[bytes, tuple[bytes, bytes]]:
    return b"event: " + n + b"\ndata: " + d + b"\n\n", (n, d)


def _two_data_lines(a: bytes, b: bytes) -> tuple[bytes, tuple[bytes, bytes]]:
    return b"data: " + a + b"\ndata: " + b + b"\n\n", (b"", a + b"\n" + b)


def _comment_then_data(c: bytes, d: bytes) -> tuple[bytes, tuple[bytes, bytes]]:
    # "data:" with no space: a leading space of the value is the one the spec strips
    return b":" + c + b"\ndata:" + d + b"\n\n", (b"", d[1:] if d[:1] == b" " else d)


_field = st.binary(min_size=0, max_size=12).filter(_one_line)
# (wire bytes, the event they dispatch), built independently of the parser
_event = st.one_of(
    st.builds(_data_event, _field),
    st.builds(_named_event, _field, _field),
    st.builds(_two_data_lines, _field, _field),
    st.builds(_comment_then_data, _field, _field),
)


@given(st.lists(_event, max_size=8), st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_any_split_of_a_stream_gives_its_events(
    events: list[tuple[bytes, tuple[bytes, bytes]]], cuts: list[int]
) -> None:
    stream = b"".join(raw for raw, _ in events)
    expected = [ev for _, ev in events]
    points = sorted({c % (len(stream) + 1) for c in cuts})
    reads = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert parse(stream) == expected
    assert parse(*reads) == expected
    assert parse(*[stream[i : i + 1] for i in range(len(stream))]) == expected
