"""Bodies flow through the proxy with backpressure in both directions."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import h11
import httpx
import pytest

from ferrogate._fastpath.upstream import UpstreamConnection
from ferrogate.config.model import Config
from tests.proxy.gateway import gateway, make_config
from tests.proxy.upstreams import TestUpstream, UpConn, UpRequest

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


def to(url: str) -> Config:
    return make_config(upstreams=[{"name": "a", "urls": [url]}], routes=[{"upstream": "a"}])


async def test_slow_client_pauses_the_upstream_instead_of_buffering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = 48 * MiB
    sent = 0
    pauses: list[int] = []
    original = UpstreamConnection.pause_reading

    def spy(self: UpstreamConnection) -> None:
        pauses.append(1)
        original(self)

    monkeypatch.setattr(UpstreamConnection, "pause_reading", spy)

    async def firehose(req: UpRequest, conn: UpConn) -> None:
        nonlocal sent
        sock = conn.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        block = b"x" * (256 * 1024)
        conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"%d" % total)]))
        for _ in range(total // len(block)):
            conn.send(h11.Data(data=block))
            await conn.writer.drain()
            sent += len(block)
        conn.send(h11.EndOfMessage())
        await conn.writer.drain()

    async with TestUpstream(firehose) as up, gateway(to(up.url)) as gw:
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(client, ("127.0.0.1", gw.port))
        await loop.sock_sendall(client, b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        received = 0
        worst_gap = 0
        try:
            # A slow reader for the first few MiB: the gap between what the upstream
            # has sent and what the client got must stay bounded (kernel buffers + a
            # little), far below the 48 MiB a buffering proxy would pull in.
            while received < 4 * MiB:
                received += len(await loop.sock_recv(client, 64 * 1024))
                await asyncio.sleep(0.002)
                worst_gap = max(worst_gap, sent - received)
            while True:
                data = await asyncio.wait_for(loop.sock_recv(client, 1024 * 1024), 10)
                if not data:
                    break
                received += len(data)
                if received >= total:
                    break
        finally:
            client.close()
    assert pauses, "the upstream connection was never paused"
    assert worst_gap < 16 * MiB  # measured ~5 MiB with backpressure, ~48 MiB without
    assert received >= total


async def test_chunked_upload_is_streamed_to_the_upstream() -> None:
    first_arrived = asyncio.Event()
    got: list[bytes] = []

    async def collect(req: UpRequest, conn: UpConn) -> None:
        async for part in req.stream():
            got.append(part)
            first_arrived.set()
        await conn.respond(200, [], b"%d" % sum(map(len, got)))

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 100_000
        # The upstream must see the first part before the client sends the rest:
        # a proxy that buffered the whole upload would deadlock here.
        await asyncio.wait_for(first_arrived.wait(), 5)
        yield b"b" * 100_000

    async with (
        TestUpstream(collect) as up,
        gateway(to(up.url)) as gw,
        httpx.AsyncClient(base_url=gw.url) as c,
    ):
        r = await c.post("/upload", content=body())
    assert (r.status_code, r.text) == (200, "200000")
    assert up.requests[0].header(b"transfer-encoding") == b"chunked"
    assert b"".join(got) == b"a" * 100_000 + b"b" * 100_000


async def test_large_upload_with_content_length_is_forwarded_intact() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, bigger than the buffering limit

    async def digest(req: UpRequest, conn: UpConn) -> None:
        body = await req.body()
        await conn.respond(200, [], b"%d:%d" % (len(body), body == payload))

    async with (
        TestUpstream(digest) as up,
        gateway(to(up.url)) as gw,
        httpx.AsyncClient(base_url=gw.url) as c,
    ):
        r = await c.put("/blob", content=payload)
    assert r.text == f"{len(payload)}:1"
    assert up.requests[0].header(b"content-length") == b"%d" % len(payload)


async def test_event_stream_events_reach_the_client_one_by_one() -> None:
    next_event = asyncio.Event()

    async def sse(req: UpRequest, conn: UpConn) -> None:
        conn.send(h11.Response(status_code=200, headers=[(b"content-type", b"text/event-stream")]))
        conn.send(h11.Data(data=b"data: one\n\n"))
        await conn.writer.drain()
        await asyncio.wait_for(next_event.wait(), 5)
        conn.send(h11.Data(data=b"data: two\n\n"))
        conn.send(h11.EndOfMessage())
        await conn.writer.drain()

    async with (
        TestUpstream(sse) as up,
        gateway(to(up.url)) as gw,
        httpx.AsyncClient(base_url=gw.url) as c,
        c.stream("GET", "/events") as r,
    ):
        assert r.headers["content-type"] == "text/event-stream"
        lines = r.aiter_lines()
        assert await asyncio.wait_for(anext(lines), 5) == "data: one"
        next_event.set()
        rest = [line async for line in lines]
    assert "data: two" in rest


async def test_upstream_failing_mid_body_cuts_the_client_connection() -> None:
    async def truncate(req: UpRequest, conn: UpConn) -> None:
        conn.writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 70000)
        await conn.writer.drain()
        conn.close()

    async with (
        TestUpstream(truncate) as up,
        gateway(to(up.url)) as gw,
        httpx.AsyncClient(base_url=gw.url) as c,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("/")


async def test_upstream_rejecting_an_upload_early_is_relayed() -> None:
    async def reject(req: UpRequest, conn: UpConn) -> None:
        await conn.respond(413, [(b"content-type", b"text/plain")], b"too big for me")
        conn.close()  # never reads the body

    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"u" * 65536

    async with (
        TestUpstream(reject) as up,
        gateway(to(up.url)) as gw,
        httpx.AsyncClient(base_url=gw.url) as c,
    ):
        try:
            r = await c.post("/upload", content=body())
        except httpx.WriteError:
            pytest.skip("the client could not finish writing (the early answer raced the upload)")
    assert (r.status_code, r.text) == (413, "too big for me")
    assert gw.pools.pools()[0].idle_count == 0
