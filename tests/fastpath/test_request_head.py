"""A client request's line and fields are cut from its head's bytes (``request_head``), not
handed over one callback at a time: for every head llhttp accepts, the same method, target,
version and fields as httptools' callbacks gave (names lowercased, values without the spaces
and tabs around them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath import request_head
from ferrogate._fastpath.request_head import (
    CONTENT_LENGTH,
    EXPECT,
    HOST,
    TRANSFER_ENCODING,
    Fields,
    RequestHead,
    cut_field_value,
    cut_request_fields,
    cut_request_head,
)

_TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CHECKED = {b"host": HOST, b"content-length": CONTENT_LENGTH, b"transfer-encoding": TRANSFER_ENCODING, b"expect": EXPECT}
names = st.one_of(
    st.text(alphabet=_TOKEN, min_size=1, max_size=24).map(str.encode),
    # the fields the server checks, in any case, and names one byte off them
    st.sampled_from([*_CHECKED, b"hosts", b"expec", b"content-lengthx", b"transfer-encodin"]).flatmap(
        lambda name: st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
            lambda upper: bytes(c - 32 if u and 97 <= c <= 122 else c for c, u in zip(name, upper, strict=True)))),
)
_VALUE_BYTES = [bytes([b]) for b in range(0x21, 0x7F)] + [b"\x80", b"\xff", b" ", b"\t"]
values = st.tuples(st.sampled_from([b"", b" ", b"\t", b"  \t"]),
                   st.lists(st.sampled_from(_VALUE_BYTES), max_size=12).map(b"".join),
                   st.sampled_from([b"", b" ", b"\t", b" \t "])).map(b"".join)
fields = st.lists(st.tuples(names, values), max_size=8)
methods = st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"HEAD"])
_TARGET_BYTES = [bytes([b]) for b in range(0x21, 0x7F) if b not in b"#"] + [b"\x80"]
targets = st.one_of(
    st.lists(st.sampled_from(_TARGET_BYTES), max_size=20).map(lambda parts: b"/" + b"".join(parts)),
    st.just(b"*"),
    st.just(b"http://example.com:8080/a?b=c"),
)
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"])
blank_lines = st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b"\n"])


class _Recorder:
    """The callbacks' reading of each head, as the server kept it before the cut."""

    def __init__(self) -> None:
        self.parser: httptools.HttpRequestParser | None = None
        self.url = b""
        self.fields: list[tuple[bytes, bytes]] = []
        self.heads: list[tuple[bytes, bytes, bytes, Fields, list[tuple[int, bytes]]]] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        version = b"HTTP/" + self.parser.get_http_version().encode()
        checked = [(_CHECKED[name], value) for name, value in self.fields if name in _CHECKED]
        self.heads.append((self.parser.get_method(), self.url, version, self.fields, checked))
        self.url, self.fields = b"", []


def _by_callbacks(data: bytes) -> list[tuple[bytes, bytes, bytes, Fields, list[tuple[int, bytes]]]] | None:
    recorder = _Recorder()
    parser = recorder.parser = httptools.HttpRequestParser(recorder)
    try:
        parser.feed_data(data)
    except httptools.HttpParserError:
        return None  # not a head llhttp accepts: never cut
    return recorder.heads


try:
    from ferrogate._fastpath import _head_fields as native
except ImportError:  # not built: the Python reading is checked alone
    native = None


class Reading(NamedTuple):
    """One way of reading a head: C or Python."""

    head: Callable[[bytes, int], RequestHead]
    fields: Callable[[bytes, int], Fields]
    value: Callable[[bytes, int, bytes], bytes | None]


READINGS = [Reading(cut_request_head, cut_request_fields, cut_field_value)] + (
    [Reading(native.request_head, native.request_fields, native.field_value)] if native is not None else []
)
IDS = ["python", "c"][: len(READINGS)]


def _read(reading: Reading, data: bytes, start: int) -> tuple[bytes, bytes, bytes, Fields, list[tuple[int, bytes]]]:
    method, target, version, fields_at, specials = reading.head(data, start)
    return method, target, version, reading.fields(data, fields_at), specials


def _head(method: bytes, target: bytes, version: bytes, pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"%s %s %s\r\n" % (method, target, version) + b"".join(n + b":" + v + b"\r\n" for n, v in pairs) + b"\r\n"


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
@settings(max_examples=400, deadline=None)
@given(method=methods, target=targets, version=versions, pairs=fields, before=blank_lines)
def test_the_head_read_from_its_bytes_equals_the_callbacks(
    reading: Reading, method: bytes, target: bytes, version: bytes, pairs: list[tuple[bytes, bytes]], before: bytes
) -> None:
    data = before + _head(method, target, version, [(b"Host", b"a"), *pairs])
    expected = _by_callbacks(data)
    if expected is not None:
        assert [_read(reading, data, len(before))] == expected


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(pairs=fields, asked=names)
def test_one_field_found_in_the_bytes_is_the_first_of_the_list(
    reading: Reading, pairs: list[tuple[bytes, bytes]], asked: bytes
) -> None:
    data = _head(b"GET", b"/", b"HTTP/1.1", [(b"Host", b"a"), *pairs])
    fields_at = reading.head(data, 0)[3]
    listed = reading.fields(data, fields_at)
    for name in {asked.lower(), *(name for name, _ in listed)}:
        assert reading.value(data, fields_at, name) == next((v for n, v in listed if n == name), None)


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
def test_a_head_without_fields_has_none(reading: Reading) -> None:
    assert _read(reading, b"GET / HTTP/1.0\r\n\r\n", 0) == (b"GET", b"/", b"HTTP/1.0", [], [])
    assert reading.value(b"GET / HTTP/1.0\r\n\r\n", 16, b"host") is None


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
def test_a_request_line_without_a_version_has_an_empty_one(reading: Reading) -> None:
    # HTTP/0.9's form: the server refuses it once it sees no HTTP/1.x version
    assert _read(reading, b"GET /x\r\nHost: a\r\n\r\n", 0) == (b"GET", b"/x", b"", [(b"host", b"a")], [(HOST, b"a")])


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\nA: 1\r\n", b"GET / HTTP/1.1\r\nA: 1", b"GET / HTTP/1.1"])
def test_an_incomplete_head_is_refused(reading: Reading, data: bytes) -> None:
    with pytest.raises(ValueError, match="whole head"):
        reading.head(data, 0)


@pytest.mark.parametrize("length", [1, 7, 8, 9, 16, 17, 600])
def test_a_field_name_of_any_length_is_lowercased_whole(length: int) -> None:
    name = (b"X-" + b"AbZ@[`z{\x80\xc1" * 70)[:length]
    data = _head(b"GET", b"/", b"HTTP/1.1", [(name, b" v ")])
    assert [_read(reading, data, 0)[3] for reading in READINGS] == [[(name.lower(), b"v")]] * len(READINGS)


def test_the_server_uses_the_c_reading_when_it_is_built() -> None:
    assert request_head.request_head is (native.request_head if native is not None else cut_request_head)
    assert request_head.field_value is (native.field_value if native is not None else cut_field_value)
