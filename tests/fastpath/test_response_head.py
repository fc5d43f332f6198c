"""An upstream response's fields are cut from its head's bytes (``response_head``), not
handed over one callback at a time: for every head llhttp accepts, the same fields as the
callbacks gave, however the head is split into reads and whatever interim heads come first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath import response_head
from ferrogate._fastpath.response_head import cut_fields, head_end
from ferrogate._fastpath.upstream import UpstreamConnection
from ferrogate._fastpath.upstream_deadlines import Timeouts, Watchdog
from ferrogate._fastpath.upstream_response import UpstreamResponse
from ferrogate._fastpath.wire import HOP_BY_HOP, SERVER_OWNED

_TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = st.text(alphabet=_TOKEN, min_size=1, max_size=12).map(str.encode)
_VALUE_BYTES = [bytes([b]) for b in range(0x21, 0x7F)] + [b"\x80", b"\xff", b" ", b"\t"]
values = st.tuples(st.sampled_from([b"", b" ", b"\t", b"  \t"]),
                   st.lists(st.sampled_from(_VALUE_BYTES), max_size=12).map(b"".join),
                   st.sampled_from([b"", b" ", b"\t"])).map(b"".join)
fields = st.lists(st.tuples(names, values), max_size=8)


def _head(status: int, pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"HTTP/1.1 %d X\r\n" % status + b"".join(n + b":" + v + b"\r\n" for n, v in pairs) + b"\r\n"


class _Recorder:
    """The callbacks' reading: what ``on_header`` was given, per head."""

    def __init__(self) -> None:
        self.heads: list[list[tuple[bytes, bytes]]] = [[]]

    def on_header(self, name: bytes, value: bytes) -> None:
        self.heads[-1].append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.heads.append([])


def _by_callbacks(data: bytes) -> list[list[tuple[bytes, bytes]]] | None:
    recorder = _Recorder()
    try:
        httptools.HttpResponseParser(recorder).feed_data(data)
    except httptools.HttpParserError:
        return None  # not a head llhttp accepts: never read by response_fields
    return recorder.heads[:-1]


try:
    from ferrogate._fastpath._head_fields import response_fields as native_fields
except ImportError:  # not built: the Python cut is checked alone
    native_fields = None

Cut = Callable[[bytes, int], list[tuple[bytes, bytes]]]
CUTS: list[Cut] = [cut_fields] + ([native_fields] if native_fields is not None else [])


def _by_cutting(cut: Cut, data: bytes, count: int) -> list[list[tuple[bytes, bytes]]]:
    heads, start = [], 0
    for _ in range(count):
        heads.append(cut(data, start))
        start = head_end(data, start)
    return heads


@pytest.mark.parametrize("cut", CUTS)
@settings(max_examples=300, deadline=None)
@given(heads=st.lists(fields, min_size=1, max_size=3))
def test_fields_cut_from_the_head_equal_the_callbacks(cut: Cut, heads: list[list[tuple[bytes, bytes]]]) -> None:
    data = b"".join(_head(103, pairs) for pairs in heads[:-1]) + _head(200, [*heads[-1], (b"Content-Length", b"0")])
    expected = _by_callbacks(data)
    if expected is not None:
        assert _by_cutting(cut, data, len(heads)) == expected


@pytest.mark.parametrize("cut", CUTS)
def test_a_head_without_fields_has_none(cut: Cut) -> None:
    data = b"HTTP/1.1 204 No Content\r\n\r\n"
    assert head_end(data, 0) == len(data)
    assert cut(data, 0) == []


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("data", [b"HTTP/1.1 200 OK\r\nA: 1\r\n", b"HTTP/1.1 200 OK\r\nA: 1", b"HTTP/1.1 200 OK"])
def test_an_incomplete_head_is_refused(cut: Cut, data: bytes) -> None:
    assert head_end(data, 0) == -1
    with pytest.raises(ValueError, match="whole head"):
        cut(data, 0)


def test_a_long_field_name_is_lowercased_whole() -> None:
    name = b"X-" + b"Ab" * 300
    data = _head(200, [(name, b"v")])
    assert [cut(data, 0) for cut in CUTS] == [[(name.lower(), b"v")]] * len(CUTS)


def test_the_connection_uses_the_c_cut_when_it_is_built() -> None:
    assert response_head.response_fields is (native_fields or cut_fields)


class _Transport:
    def __init__(self) -> None:
        self.sent = b""

    def write(self, data: bytes) -> None:
        self.sent += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def _received(data: bytes, cuts: list[int]) -> UpstreamResponse:
    """The response a connection reads from ``data``, split into reads at ``cuts``."""
    loop = asyncio.new_event_loop()
    try:
        conn = UpstreamConnection(loop, lambda _conn, _reusable: None, Watchdog(loop))
        conn.connection_made(_Transport())  # type: ignore[arg-type]
        waiter = conn.send(b"GET / HTTP/1.1\r\n\r\n", b"", Timeouts(), is_head=False, chunked=False)
        start = 0
        for end in sorted({min(c, len(data)) for c in cuts} | {len(data)}):
            conn.data_received(data[start:end])
            start = end
        return waiter.result()
    finally:
        loop.close()


@settings(max_examples=200, deadline=None)
@given(fields, st.booleans(), st.lists(st.integers(1, 400), max_size=6))
def test_the_connection_reads_the_same_fields_for_any_split_into_reads(
    pairs: list[tuple[bytes, bytes]], interim: bool, cuts: list[int]
) -> None:
    """The head is cut from every read since the request, after any 1xx heads."""
    final = [*pairs, (b"Content-Length", b"2")]
    data = (_head(100, [(b"X-Interim", b"1")]) if interim else b"") + _head(200, final) + b"ok"
    expected = _by_callbacks(data)
    if expected is None:
        return
    response = _received(data, cuts)
    assert (response.status, response.headers) == (200, expected[-1])


@settings(max_examples=200, deadline=None)
@given(fields, st.sampled_from([b"Server", b"Date", b"Keep-Alive", b"TE", b"Upgrade", b"X-Kept"]),
       st.lists(st.integers(1, 400), max_size=6))
def test_the_fields_a_whole_response_relays_are_its_own_but_the_hops_and_the_servers(
    pairs: list[tuple[bytes, bytes]], extra: bytes, cuts: list[int]
) -> None:
    final = [(extra, b"x"), *pairs, (b"Connection", b"keep-alive"), (b"Content-Length", b"2")]
    data = _head(200, final) + b"ok"
    expected = _by_callbacks(data)
    if expected is None:
        return
    response = _received(data, cuts)
    relayed = b"".join(name + b": " + value.strip(b" \t") + b"\r\n" for name, value in expected[-1]
                       if name not in HOP_BY_HOP | SERVER_OWNED)
    assert response.relay_lines == relayed
    assert (response.content_length, response.lists_hop_headers) == (2, False)


def test_a_head_arriving_a_byte_a_read_gives_every_field() -> None:
    """Held across 2,000 reads (grown in place), after a 100 Continue in the same reads."""
    final = [(b"X-Field-%d" % i, b"value %d" % i) for i in range(60)] + [(b"Content-Length", b"0")]
    data = _head(100, []) + _head(200, final)
    loop = asyncio.new_event_loop()
    try:
        conn = UpstreamConnection(loop, lambda _conn, _reusable: None, Watchdog(loop))
        conn.connection_made(_Transport())  # type: ignore[arg-type]
        waiter = conn.send(b"GET / HTTP/1.1\r\n\r\n", b"", Timeouts(), is_head=False, chunked=False)
        for i in range(len(data)):
            conn.data_received(data[i : i + 1])
        assert waiter.result().headers == [(name.lower(), value) for name, value in final]
    finally:
        loop.close()
