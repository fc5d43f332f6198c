"""What a proxied response carries back through the real gateway processes: the upstream's own
fields, in order, without hop-by-hop ones and without the upstream's framing, Date and Server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.ai.conftest import LoopThread
from tests.routing.test_bounded_input_e2e import RawUpstream, Serve, _proxy_config
from tests.support.gateway import Gateway


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def _answering(head: bytes, body: bytes) -> Serve:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

    return answer


def _fetch_through_gateway(
    gateway_factory: Callable[..., Gateway], loop: LoopThread, head: bytes, body: bytes
) -> httpx.Response:
    """GET /x through a real gateway whose one upstream answers ``head`` and ``body``."""
    up = RawUpstream(loop, _answering(head, body))
    try:
        gw = gateway_factory(_proxy_config(up.port), workers=1)
        return httpx.get(gw.base_url + "/x", timeout=20)
    finally:
        up.close()


def _relayed(r: httpx.Response) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in r.headers.raw if n not in (b"date", b"server", b"content-length", b"x-request-id")]


def test_a_whole_response_keeps_its_own_fields_in_order(gateway_factory, loop: LoopThread) -> None:
    head = (b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nServer: upstream/1.0\r\nX-Mixed-CASE:  v  w \r\n"
            b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
            b"set-cookie: b=2\r\n")
    r = _fetch_through_gateway(gateway_factory, loop, head, b"whole")
    assert (r.status_code, r.content) == (200, b"whole")
    assert _relayed(r) == [(b"set-cookie", b"a=1"), (b"x-mixed-case", b"v  w"), (b"set-cookie", b"b=2")]
    assert r.headers.get_list("server") == ["ferrogate"]
    assert r.headers["date"] != "Thu, 01 Jan 1970 00:00:00 GMT"


def test_fields_the_upstreams_connection_header_names_are_not_relayed(gateway_factory, loop: LoopThread) -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop-Secret\r\nX-Hop-Secret: s3cr3t\r\nX-End: 2\r\n"
    r = _fetch_through_gateway(gateway_factory, loop, head, b"ok")
    assert r.status_code == 200
    assert _relayed(r) == [(b"x-end", b"2")]
