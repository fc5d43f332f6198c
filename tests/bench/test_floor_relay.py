"""The floor relay (benchmarks/floor_relay.py) relays HTTP/1.1 exchanges whole, keep-alive,
over one upstream connection per client connection: the figure it gives is a relay's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.proxy.upstreams import TestUpstream

_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def _floor(upstream_port: int) -> AsyncIterator[int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.floor_relay", "serve", "--upstream", str(upstream_port),
        "--workers", "1", cwd=_ROOT, stdout=subprocess.PIPE, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        found = re.match(rb"FLOOR_READY (\d+)", line)
        assert found, line
        yield int(found.group(1))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the serving child is in the same group
        await proc.wait()


async def test_floor_relay_answers_each_request_with_the_upstreams_answer_on_one_connection() -> None:
    async with (TestUpstream() as up, _floor(up.port) as port,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client):
        got = await client.get("/first")
        posted = await client.post("/second", content=b'{"stream":true}')
        large = await client.post("/third", content=b"x" * 300_000)
    assert (got.status_code, got.headers["x-path"], got.content) == (200, "/first", b"")
    assert (posted.headers["x-path"], posted.content) == ("/second", b'{"stream":true}')
    assert large.content == b"x" * 300_000
    assert up.connections == 1
    assert [r.target for r in up.requests] == [b"/first", b"/second", b"/third"]


@pytest.mark.parametrize("junk", [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"])
async def test_floor_relay_closes_a_connection_that_sends_no_http_and_forwards_none_of_it(junk: bytes) -> None:
    received: list[bytes] = []
    upstream_closed = asyncio.Event()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())  # until the relay closes its side
        writer.close()
        upstream_closed.set()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    try:
        async with _floor(server.sockets[0].getsockname()[1]) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(junk)
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            await writer.wait_closed()
            await asyncio.wait_for(upstream_closed.wait(), 10)
    finally:
        server.close()
    assert received == [b""]
