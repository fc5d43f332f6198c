"""Upstreams and clients cannot make a worker hold unbounded data (real processes)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from tests.ai.conftest import LoopThread

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawUpstream:
    """A loopback server whose answer is written by the test, byte for byte."""

    def __init__(self, loop: LoopThread, serve: Serve) -> None:
        self.loop = loop
        self.released = threading.Event()  # set when the gateway dropped the connection
        self._serve = serve

        async def start() -> asyncio.AbstractServer:
            return await asyncio.start_server(self._handle, "127.0.0.1", 0)

        self.server = loop.run(start())
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.released.set()
            writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()

        self.loop.run(stop())


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _proxy_config(port: int, extra: str = "") -> str:
    return (
        f'{extra}\n[[upstreams]]\nname = "up"\nurls = ["http://127.0.0.1:{port}"]\nhealth = {{ max_fails = 1000 }}\n'
        '\n[[routes]]\npaths = ["/*"]\nupstream = "up"\n'
    )


def test_an_8mb_upstream_header_block_is_a_502_and_is_not_buffered(gateway_factory, loop: LoopThread) -> None:
    async def huge_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Big: ")
        for _ in range(128):
            writer.write(b"a" * 65536)
            await writer.drain()
        writer.write(b"\r\n\r\n")
        await writer.drain()

    up = RawUpstream(loop, huge_headers)
    try:
        gw = gateway_factory(_proxy_config(up.port), workers=1)
        worker = gw.worker_pids()[0]
        httpx.get(gw.base_url + "/warm-up", timeout=20)  # the same path once: code and pools warmed
        before = _rss_kb(worker)
        r = httpx.get(gw.base_url + "/x", timeout=20)
        assert r.status_code == 502
        assert "header block exceeds" in r.text
        assert _rss_kb(worker) - before < 4096
    finally:
        up.close()


def _sse_provider_config(port: int) -> str:
    return f"""
[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "http://127.0.0.1:{port}/v1"
api_key = "sk-up"

[[models]]
name = "m"
provider = "up"
provider_model = "m"

[reliability]
provider_dispatch_max_retries = 0
"""


def test_an_sse_event_without_end_stops_the_stream_with_an_error_event(gateway_factory, loop: LoopThread) -> None:
    first = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}\n\n'

    async def endless_event(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\n%s\r\n" % (len(first), first))
        piece = b"data: " + b"x" * 65530
        for _ in range(40):  # 2.6 MB and never a blank line
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        await reader.read()  # returns when the gateway closes the connection

    up = RawUpstream(loop, endless_event)
    try:
        gw = gateway_factory(_sse_provider_config(up.port), workers=1)
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        started = time.monotonic()
        r = httpx.post(gw.base_url + "/v1/chat/completions", json=body, timeout=20)
        assert time.monotonic() - started < 15
        assert b'"content":"hi"' in r.content
        assert b"upstream_event_too_large" in r.content
        assert up.released.wait(5)
    finally:
        up.close()


def test_a_client_that_stops_reading_is_disconnected_and_the_upstream_released(gateway_factory, loop: LoopThread) -> None:
    async def endless_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        piece = b"z" * 65536
        for _ in range(10_000):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()

    up = RawUpstream(loop, endless_body)
    try:
        gw = gateway_factory(_proxy_config(up.port, "[limits]\nwrite_timeout_secs = 1\n"), workers=1)
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", gw.port))
        try:
            client.sendall(b"GET /stream HTTP/1.1\r\nHost: gw\r\n\r\n")
            # Never read: the gateway must give up on this client and let the upstream go.
            assert up.released.wait(20), "the upstream connection was not released"
            client.settimeout(10)
            with _eof_or_reset():
                while client.recv(1 << 20):
                    pass
        finally:
            client.close()
        assert "read nothing for 1 s" in gw.log()
    finally:
        up.close()


class _eof_or_reset:
    """The connection ends: recv reaches EOF (loop ends) or the peer reset it."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        return kind is None or issubclass(kind, ConnectionResetError)
