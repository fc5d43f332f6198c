"""A client that goes away stops the upstream work, and its upstream connection is never reused."""

from __future__ import annotations

import asyncio
import socket

import h11
import pytest

from ferrogate.config.model import Config
from tests.proxy.gateway import gateway, make_config
from tests.proxy.upstreams import TestUpstream, UpConn, UpRequest

pytestmark = pytest.mark.anyio


def to(url: str) -> Config:
    return make_config(upstreams=[{"name": "a", "urls": [url]}], routes=[{"upstream": "a"}])


async def _send_and_drop(
    port: int, request: bytes, *, read_first: int = 0, hold_until: asyncio.Event | None = None
) -> None:
    """Send ``request``, read ``read_first`` bytes and/or wait for ``hold_until``, then hang up."""
    loop = asyncio.get_running_loop()
    client = socket.socket()
    client.setblocking(False)
    try:
        await loop.sock_connect(client, ("127.0.0.1", port))
        await loop.sock_sendall(client, request)
        got = 0
        while got < read_first:
            data = await asyncio.wait_for(loop.sock_recv(client, 65536), 5)
            if not data:
                break
            got += len(data)
        if hold_until is not None:
            await asyncio.wait_for(hold_until.wait(), 5)
    finally:
        client.close()


async def test_client_gone_while_waiting_closes_the_upstream_connection() -> None:
    arrived = asyncio.Event()
    upstream_saw_close = asyncio.Event()

    async def stall(req: UpRequest, conn: UpConn) -> None:
        arrived.set()
        try:
            data = await conn.reader.read(1)
        except ConnectionError:
            data = b""  # reset: the gateway aborted the connection
        if not data:
            upstream_saw_close.set()
        conn.close()

    async with TestUpstream(stall) as up, gateway(to(up.url)) as gw:
        await _send_and_drop(gw.port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", hold_until=arrived)
        await asyncio.wait_for(upstream_saw_close.wait(), 5)
        assert gw.pools.pools()[0].idle_count == 0


async def test_client_gone_mid_body_aborts_the_upstream_transfer() -> None:
    upstream_stopped = asyncio.Event()

    async def endless(req: UpRequest, conn: UpConn) -> None:
        conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"%d" % 2**40)]))
        block = b"z" * 65536
        try:
            while True:
                conn.send(h11.Data(data=block))
                await conn.writer.drain()
        except ConnectionError:
            upstream_stopped.set()
            conn.closed = True

    async with TestUpstream(endless) as up, gateway(to(up.url)) as gw:
        await _send_and_drop(gw.port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", read_first=256 * 1024)
        await asyncio.wait_for(upstream_stopped.wait(), 10)
        assert gw.pools.pools()[0].idle_count == 0
