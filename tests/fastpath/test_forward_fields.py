"""The proxy passes fields on straight from a head's bytes (``request_head.forward_fields``),
with the same result as from the field list: the fields it only copies serialized as
``name: value`` lines, the ones it reads set aside, the ones it drops left out. The client's
fields go upstream this way, and an upstream's come back so."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath import request_head
from ferrogate._fastpath.forwarding import (
    _HEAD_DROPPED,
    _HEAD_NOTED,
    IdSource,
    upstream_head,
    upstream_headers,
)
from ferrogate._fastpath.request import HttpRequest
from ferrogate._fastpath.request_head import (
    ForwardFields,
    cut_forward_fields,
    cut_request_fields,
    cut_request_head,
    serialize_forward_fields,
)

try:
    from ferrogate._fastpath import _head_fields as native
except ImportError:  # not built: the Python reading is checked alone
    native = None

Reading = Callable[[bytes, int, tuple[bytes, ...], tuple[bytes, ...]], ForwardFields]
READINGS: list[Reading] = [cut_forward_fields] + (
    [native.forward_fields] if native is not None else []
)
IDS = ["python", "c"][: len(READINGS)]

_TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = st.one_of(
    st.text(alphabet=_TOKEN, min_size=1, max_size=40).map(str.encode),
    st.sampled_from([*_HEAD_NOTED, *_HEAD_DROPPED, b"host", b"Host", b"X-Request-ID", b"TraceParent", b"x-forwarded-fo"]),
)
_VALUE_BYTES = [bytes([b]) for b in range(0x21, 0x7F)] + [b"\x80", b" ", b"\t"]
values = st.tuples(st.sampled_from([b"", b" ", b"\t "]),
                   st.lists(st.sampled_from(_VALUE_BYTES), max_size=10).map(b"".join),
                   st.sampled_from([b"", b" ", b" \t"])).map(b"".join)


def _head(pairs: list[tuple[bytes, bytes]], method: bytes = b"GET") -> bytes:
    return method + b" /p?q=1 HTTP/1.1\r\n" + b"".join(n + b":" + v + b"\r\n" for n, v in pairs) + b"\r\n"


FIELDS_AT = len(b"GET /p?q=1 HTTP/1.1\r\n")  # where a GET _head's field lines begin


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(names, values), max_size=10), noted=st.lists(names, max_size=4),
       dropped=st.lists(names, max_size=6))
def test_forwarded_fields_read_from_the_bytes_equal_those_of_the_field_list(
    reading: Reading, pairs: list[tuple[bytes, bytes]], noted: list[bytes], dropped: list[bytes]
) -> None:
    data = _head(pairs)
    fields_at = cut_request_head(data, 0)[3]
    noted_names = tuple(name.lower() for name in noted if len(name) <= 32)
    dropped_names = tuple(name.lower() for name in dropped if len(name) <= 32)
    expected = serialize_forward_fields(cut_request_fields(data, fields_at), noted_names, dropped_names)
    assert reading(data, fields_at, noted_names, dropped_names) == expected


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
@pytest.mark.parametrize("count", [40, 400])  # the C reading's lines fit on its stack, then do not
def test_a_bare_colon_gets_its_space_in_every_copied_line(reading: Reading, count: int) -> None:
    # each copied line is one byte longer than the line it comes from
    pairs = [(b"A%d" % i, b"v") for i in range(count)]
    data = _head(pairs)
    copied, specials, host = reading(data, FIELDS_AT, _HEAD_NOTED, _HEAD_DROPPED)
    assert copied == b"".join(b"a%d: v\r\n" % i for i in range(count))
    assert (specials, host) == ([], None)


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
def test_the_last_host_is_the_one_answered_and_noted_fields_keep_their_order(reading: Reading) -> None:
    data = _head([(b"HOST", b" a "), (b"X-Request-Id", b" r1"), (b"TE", b"trailers"), (b"Connection", b"close"),
                  (b"host", b"b"), (b"x-request-id", b"r2")])
    copied, specials, host = reading(data, FIELDS_AT, _HEAD_NOTED, _HEAD_DROPPED)
    assert copied == b"host: a\r\nhost: b\r\n"
    assert specials == [(b"x-request-id", b"r1"), (b"connection", b"close"), (b"x-request-id", b"r2")]
    assert host == b"b"


@pytest.mark.parametrize("length", [31, 32, 33, 200])
def test_a_long_name_is_copied_lowercased_whole(length: int) -> None:
    name = (b"X-Long-" + b"AbCd" * 60)[:length]
    data = _head([(name, b"v")])
    assert [reading(data, FIELDS_AT, _HEAD_NOTED, _HEAD_DROPPED)[0] for reading in READINGS] == [name.lower() + b": v\r\n"] * len(
        READINGS
    )


@pytest.mark.skipif(native is None, reason="the C reading is not built")
@pytest.mark.parametrize("names", [[b"host"], (b"a" * 33,), ("host",), (b"",)])
def test_the_c_reading_refuses_names_it_cannot_match(names: object) -> None:
    assert native is not None
    with pytest.raises(TypeError, match="forward_fields"):
        native.forward_fields(_head([]), FIELDS_AT, names, ())
    with pytest.raises(TypeError, match="forward_fields"):
        native.forward_fields(_head([]), FIELDS_AT, (), names)


@pytest.mark.parametrize("reading", READINGS, ids=IDS)
@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\nA: 1\r\n", b"GET / HTTP/1.1\r\nA: 1", b"GET / HTTP/1.1\r\nA"])
def test_an_incomplete_head_is_refused(reading: Reading, data: bytes) -> None:
    with pytest.raises(ValueError, match="whole head"):
        reading(data, len(b"GET / HTTP/1.1\r\n"), _HEAD_NOTED, _HEAD_DROPPED)


def test_the_server_uses_the_c_reading_when_it_is_built() -> None:
    assert request_head.forward_fields is (native.forward_fields if native is not None else cut_forward_fields)


def _request(data: bytes, listed: bool) -> HttpRequest:
    method, target, _, fields_at, _ = cut_request_head(data, 0)
    if listed:
        return HttpRequest(method, target, cut_request_fields(data, fields_at), "1.1", True, ("10.0.0.7", 5), None,
                           False)
    return HttpRequest(method, target, None, "1.1", True, ("10.0.0.7", 5), None, False, head=data, fields_at=fields_at)


_SPAN = re.compile(rb"^(traceparent: 00-[0-9a-f]{32}-)[0-9a-f]{16}(-[0-9a-f]{2})$")


def _lines(head: bytes) -> tuple[bytes, list[bytes]]:
    """The start line and the field lines, in order of name (each name's own lines in order),
    with the random span id of the traceparent blanked."""
    assert head.endswith(b"\r\n\r\n")
    start, *fields = head[:-4].split(b"\r\n")
    fields = [_SPAN.sub(rb"\1<span>\2", line) for line in fields]
    return start, sorted(fields, key=lambda line: line.partition(b":")[0])


# The client sends its own request id and trace: the head then holds no random id but the span.
_IDS_GIVEN = [(b"X-Request-Id", b"rid-1"), (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
plain_or_special = st.one_of(
    st.text(alphabet=_TOKEN, min_size=1, max_size=12).map(str.encode),
    st.sampled_from([b"Host", b"X-Forwarded-For", b"x-forwarded-proto", b"X-Forwarded-Host", b"te", b"Upgrade",
                     b"Keep-Alive", b"expect", b"content-length", b"Proxy-Authorization"]),
)


@pytest.mark.parametrize("listed", [False, True], ids=["from-bytes", "from-list"])
@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(plain_or_special, values), max_size=8),
       connection=st.sampled_from([[], [(b"Connection", b"keep-alive")], [(b"connection", b"Close")]]))
def test_the_one_pass_head_carries_the_same_fields_as_the_general_path(
    listed: bool, pairs: list[tuple[bytes, bytes]], connection: list[tuple[bytes, bytes]]
) -> None:
    data = _head(pairs + connection + _IDS_GIVEN, b"POST")
    head, rid = upstream_head(_request(data, listed), b"https", IdSource(), b"/up", b"origin:80",
                              b"content-length: 3")
    fields, general_rid = upstream_headers(_request(data, listed), b"https", IdSource())
    if not any(name == b"host" for name, _ in fields):
        fields.append((b"host", b"origin:80"))
    general = b"POST /up HTTP/1.1\r\n" + b"".join(
        n + b": " + v + b"\r\n" for n, v in fields if n != b"content-length") + b"content-length: 3\r\n\r\n"
    assert (_lines(head), rid) == (_lines(general), general_rid)
