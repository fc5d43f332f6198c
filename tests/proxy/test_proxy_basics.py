"""The reverse proxy end to end: httpx → HttpServer + router → asyncio test upstreams."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.proxy.gateway import gateway, make_config
from tests.proxy.upstreams import TestUpstream, UpConn, UpRequest

pytestmark = pytest.mark.anyio


def one_route(url: str, **route: object) -> dict[str, object]:
    return {
        "upstreams": [{"name": "app", "urls": [url]}],
        "routes": [{"upstream": "app", **route}],
    }


async def test_requests_through_the_proxy_reuse_one_upstream_connection() -> None:
    async with TestUpstream() as up, gateway(make_config(**one_route(up.url))) as gw:
        async with httpx.AsyncClient(base_url=gw.url) as client:
            for i in range(5):
                r = await client.post(f"/echo/{i}", content=b"body %d" % i)
                assert r.status_code == 200
                assert r.content == b"body %d" % i
                assert r.headers["x-path"] == f"/echo/{i}"
        assert up.connections == 1


async def test_stale_pooled_connection_is_retried_transparently() -> None:
    async def close_second(req: UpRequest, conn: UpConn) -> None:
        if req.request_index == 2:
            conn.writer.transport.abort()
            conn.closed = True
            return
        await conn.respond(200, [], await req.body() or b"ok")

    async with TestUpstream(close_second) as up, gateway(make_config(**one_route(up.url))) as gw:
        async with httpx.AsyncClient(base_url=gw.url) as client:
            assert (await client.get("/")).status_code == 200
            r = await client.post("/", content=b"again")
            assert (r.status_code, r.content) == (200, b"again")
        assert up.connections == 2
        assert gw.pools.pools()[0].retries == 1


@pytest.fixture
def refused_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


async def test_connect_refused_is_502_with_a_json_error(refused_url: str) -> None:
    cfg = make_config(**one_route(refused_url))
    async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as client:
        r = await client.get("/anything")
    assert r.status_code == 502
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "upstream_connect_error"
    assert len(r.headers["x-request-id"]) == 32


async def test_first_byte_timeout_is_504() -> None:
    release = asyncio.Event()

    async def stall(req: UpRequest, conn: UpConn) -> None:
        await release.wait()

    cfg = one_route("")
    async with TestUpstream(stall) as up:
        cfg["upstreams"] = [{"name": "app", "urls": [up.url], "first_byte_timeout_secs": 0.2}]
        async with gateway(make_config(**cfg)) as gw, httpx.AsyncClient(base_url=gw.url) as client:
            r = await client.get("/slow")
        release.set()
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "upstream_timeout"


async def test_unmatched_request_is_404_json() -> None:
    cfg = make_config(routes=[{"paths": ["/only"], "respond": {"status": 200, "body": "x"}}])
    async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as client:
        r = await client.get("/other")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "route_not_found"


async def test_body_failing_before_relay_starts_is_a_clean_502() -> None:
    async def broken_chunks(req: UpRequest, conn: UpConn) -> None:
        # A valid head and a bad chunk size in the same packet.
        conn.writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nZZ\r\nxx\r\n")
        await conn.writer.drain()

    async with (
        TestUpstream(broken_chunks) as up,
        gateway(make_config(**one_route(up.url))) as gw,
        httpx.AsyncClient(base_url=gw.url) as client,
    ):
        r = await client.get("/")
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_protocol_error"
