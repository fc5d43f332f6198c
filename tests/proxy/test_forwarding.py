"""What the proxy adds and strips: X-Forwarded-*, X-Request-Id, traceparent, hop-by-hop."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from ferrogate._fastpath.forwarding import child_traceparent
from tests.proxy.gateway import Gateway, gateway, make_config
from tests.proxy.upstreams import TestUpstream, UpConn, UpRequest

pytestmark = pytest.mark.anyio

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@asynccontextmanager
async def proxied(up: TestUpstream) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    cfg = make_config(upstreams=[{"name": "a", "urls": [up.url]}], routes=[{"upstream": "a"}])
    async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as client:
        yield gw, client


async def test_x_forwarded_headers_are_added() -> None:
    async with TestUpstream() as up, proxied(up) as (_, c):
        await c.get(
            "/",
            headers={
                "host": "public.example",
                "x-forwarded-for": "203.0.113.9",
                "x-forwarded-proto": "gopher",
                "x-forwarded-host": "spoofed",
            },
        )
    seen = up.requests[0]
    assert seen.header(b"x-forwarded-for") == b"203.0.113.9, 127.0.0.1"
    assert seen.header(b"x-forwarded-proto") == b"http"
    assert seen.header(b"x-forwarded-host") == b"public.example"
    assert seen.header_all(b"x-forwarded-proto") == [b"http"]


async def test_request_id_is_generated_sent_upstream_and_echoed() -> None:
    async with TestUpstream() as up, proxied(up) as (_, c):
        r1 = await c.get("/")
        r2 = await c.get("/")
    rid = r1.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert up.requests[0].header(b"x-request-id") == rid.encode()
    assert r2.headers["x-request-id"] != rid


async def test_request_id_from_the_client_is_propagated() -> None:
    async with TestUpstream() as up, proxied(up) as (_, c):
        r = await c.get("/", headers={"x-request-id": "client-abc-123"})
    assert r.headers["x-request-id"] == "client-abc-123"
    assert up.requests[0].header_all(b"x-request-id") == [b"client-abc-123"]


async def test_valid_traceparent_continues_the_trace_with_a_new_span() -> None:
    async with TestUpstream() as up, proxied(up) as (_, c):
        await c.get("/", headers={"traceparent": f"00-{TRACE}-{PARENT}-01", "tracestate": "k=v"})
    sent = up.requests[0].header(b"traceparent")
    assert sent is not None
    version, trace, span, flags = sent.decode().split("-")
    assert (version, trace, flags) == ("00", TRACE, "01")
    assert re.fullmatch(r"[0-9a-f]{16}", span) and span != PARENT
    assert up.requests[0].header(b"tracestate") == b"k=v"


async def test_missing_traceparent_starts_a_new_trace() -> None:
    async with TestUpstream() as up, proxied(up) as (_, c):
        await c.get("/")
    sent = up.requests[0].header(b"traceparent")
    assert sent is not None
    assert re.fullmatch(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-01", sent)


@pytest.mark.parametrize(
    "bad",
    [
        f"00-{'0' * 32}-{PARENT}-01",  # zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # zero parent id
        f"ff-{TRACE}-{PARENT}-01",  # forbidden version
        f"00-{TRACE[:-1]}x-{PARENT}-01",  # not hex
        f"00-{TRACE.upper()}-{PARENT}-01",  # hex, but not lowercase
        f"00-{TRACE}-{PARENT}-01-more",  # version 00 has exactly four fields
        "garbage",
    ],
)
def test_invalid_traceparent_is_replaced(bad: str) -> None:
    out = child_traceparent(bad.encode(), b"1" * 16, b"a" * 32)
    assert out == b"00-" + b"a" * 32 + b"-" + b"1" * 16 + b"-01"


def test_a_later_versions_traceparent_is_continued_from_its_first_four_fields() -> None:
    out = child_traceparent(f"cc-{TRACE}-{PARENT}-01-what-comes-next".encode(), b"1" * 16, b"a" * 32)
    assert out == f"00-{TRACE}-".encode() + b"1" * 16 + b"-01"


async def test_hop_by_hop_headers_are_stripped_both_ways() -> None:
    async def hoppy(req: UpRequest, conn: UpConn) -> None:
        await conn.respond(
            200,
            [
                (b"connection", b"x-up-hop"),
                (b"x-up-hop", b"1"),
                (b"keep-alive", b"timeout=5"),
                (b"x-end", b"2"),
            ],
            b"ok",
        )

    async with TestUpstream(hoppy) as up, proxied(up) as (_, c):
        r = await c.get(
            "/",
            headers={
                "connection": "keep-alive, x-client-hop",
                "x-client-hop": "1",
                "te": "gzip",
                "upgrade": "websocket",
                "proxy-authorization": "Basic abc",
                "x-end": "1",
            },
        )
    seen = up.requests[0]
    for name in (b"x-client-hop", b"te", b"upgrade", b"proxy-authorization"):
        assert seen.header(name) is None, name
    assert seen.header(b"x-end") == b"1"
    assert "x-up-hop" not in r.headers and "keep-alive" not in r.headers
    assert r.headers["x-end"] == "2"


async def test_a_whole_response_keeps_its_fields_in_order_without_the_hops_and_the_servers_own() -> None:
    async def many(req: UpRequest, conn: UpConn) -> None:
        await conn.respond(
            200,
            [
                (b"Set-Cookie", b"a=1"),
                (b"Server", b"upstream/1.0"),
                (b"X-Mixed-Case", b"v  w"),
                (b"Date", b"Thu, 01 Jan 1970 00:00:00 GMT"),
                (b"Connection", b"keep-alive"),
                (b"set-cookie", b"b=2"),
                (b"Transfer-Encoding", b"chunked"),
            ],
            b"whole",
        )

    async with TestUpstream(many) as up, proxied(up) as (_, c):
        r = await c.get("/")
    assert r.content == b"whole"
    relayed = [(n, v) for n, v in r.headers.raw if n not in (b"date", b"server", b"content-length",
                                                                b"x-request-id")]
    assert relayed == [(b"set-cookie", b"a=1"), (b"x-mixed-case", b"v  w"), (b"set-cookie", b"b=2")]
    assert r.headers.get_list("server") == ["ferrogate"]
    assert r.headers["date"] != "Thu, 01 Jan 1970 00:00:00 GMT"
    assert r.headers["content-length"] == "5"


async def test_head_request_is_proxied_without_a_body() -> None:
    async def head_aware(req: UpRequest, conn: UpConn) -> None:
        body = b"0123456789"
        await conn.respond(
            200, [(b"content-length", b"10")], b"" if req.method == b"HEAD" else body
        )

    async with TestUpstream(head_aware) as up, proxied(up) as (_, c):
        r = await c.head("/")
        assert (r.status_code, r.headers["content-length"], r.content) == (200, "10", b"")
        assert (await c.get("/")).content == b"0123456789"
    assert up.connections == 1
