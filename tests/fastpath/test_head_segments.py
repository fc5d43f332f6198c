"""Reads are fed to llhttp in segments that end where a request head ends, so each head's
bytes are known when it completes: after a Content-Length body, after a chunked body (which
can end only where a CRLF CRLF ends, also one begun in the read before), and after a body
stuffed with CRLF CRLF pairs, where the connection stops at that request instead."""

from __future__ import annotations

import pytest

from ferrogate._fastpath.api import Exchange
from tests.fastpath.conftest import make_conn, parse_responses

pytestmark = pytest.mark.anyio

NEXT = b"GET /next HTTP/1.1\r\nHost: a\r\nX-After: yes\r\n\r\n"


def chunked(data: bytes) -> bytes:
    return b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(data), data)


class Seen:
    """A handler that reads each body and answers with what it read."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, list[tuple[bytes, bytes]], bytes]] = []

    async def __call__(self, exchange: Exchange) -> None:
        body = await exchange.read_body()
        self.requests.append((exchange.request.target, exchange.request.headers, body))
        await exchange.respond(200, [(b"content-type", b"text/plain")], b"%d" % len(body))


@pytest.mark.parametrize("cut", range(1, 5))
async def test_a_chunked_body_whose_end_straddles_two_reads_is_followed_by_the_next_request(cut: int) -> None:
    seen = Seen()
    conn = make_conn(seen)
    raw = chunked(b"abc") + NEXT
    end = len(chunked(b"abc"))  # the body's closing CRLF CRLF ends here
    conn.feed(raw[: end - 4 + cut])
    conn.feed(raw[end - 4 + cut :])
    await conn.settle()
    assert [(target, body) for target, _, body in seen.requests] == [(b"/up", b"abc"), (b"/next", b"")]
    assert seen.requests[1][1] == [(b"host", b"a"), (b"x-after", b"yes")]
    assert not conn.transport.closed


async def test_a_chunked_body_full_of_blank_lines_in_one_read_ends_the_connection_after_it() -> None:
    # More CRLF CRLF pairs than a read is fed apart for: where the body ends inside the
    # rest of the read is not known, so the request after it is not read.
    seen = Seen()
    conn = make_conn(seen)
    body = b"\r\n\r\n" * 40
    conn.feed(chunked(body) + NEXT)
    await conn.settle()
    assert [(target, got) for target, _, got in seen.requests] == [(b"/up", body)]
    (resp,) = parse_responses(conn.transport.take(), ["POST"])
    assert resp.status == 200
    assert resp.headers[b"connection"] == b"close"
    assert conn.transport.closed


async def test_the_same_body_over_several_reads_keeps_the_connection() -> None:
    seen = Seen()
    conn = make_conn(seen)
    body = b"\r\n\r\n" * 40
    raw = chunked(body) + NEXT
    for at in range(0, len(raw), 24):  # at most a dozen CRLF CRLF ends a read
        conn.feed(raw[at : at + 24])
    await conn.settle()
    assert [(target, got) for target, _, got in seen.requests] == [(b"/up", body), (b"/next", b"")]
    assert not conn.transport.closed


async def test_a_request_after_a_content_length_body_in_the_same_read_has_its_own_fields() -> None:
    seen = Seen()
    conn = make_conn(seen)
    conn.feed(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\nGET / HT" + NEXT)
    await conn.settle()
    assert seen.requests == [
        (b"/up", [(b"host", b"a"), (b"content-length", b"8")], b"GET / HT"),
        (b"/next", [(b"host", b"a"), (b"x-after", b"yes")], b""),
    ]


async def test_a_head_sent_a_byte_a_read_has_every_field() -> None:
    seen = Seen()
    conn = make_conn(seen)
    raw = b"\r\nGET /x HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v%d \r\n" % (i, i) for i in range(30)) + b"\r\n"
    for i in range(len(raw)):
        conn.feed(raw[i : i + 1])
    await conn.settle()
    ((target, headers, _),) = seen.requests
    assert target == b"/x"
    assert headers == [(b"host", b"a")] + [(b"x-%d" % i, b"v%d" % i) for i in range(30)]
