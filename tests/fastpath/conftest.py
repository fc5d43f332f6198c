"""Fixtures for the fast-path server tests.

Three levels (STYLE.md §3.15): a :class:`MockTransport` that protocol unit tests
push raw bytes through, h11 as a strict client peer that parses every response
the server writes, and a live :class:`HttpServer` on 127.0.0.1 port 0 in the
test's own event loop (anyio's asyncio backend with uvloop, like the workers).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import h11
import pytest

from ferrogate._fastpath.api import Exchange, Handler
from ferrogate._fastpath.http1 import HttpProtocol
from ferrogate._fastpath.server import HttpServer
from ferrogate._fastpath.state import ServerState
from ferrogate.config.model import Limits


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, bool]]:
    return ("asyncio", {"use_uvloop": True})


# --------------------------------------------------------------------------- mock transport


class MockTransport:
    """Records what the protocol writes and how it drives the transport."""

    def __init__(self, *, high_water: int = 64 * 1024) -> None:
        self.buffer = bytearray()
        self.closed = False
        self.aborted = False
        self.eof_written = False
        self.read_paused = False
        self.protocol: asyncio.Protocol | None = None
        self.high_water = high_water
        # Set when the server closes or half-closes: tests wait on it instead of sleeping.
        self.finished = asyncio.Event()

    # asyncio.Transport surface the server uses
    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        assert not self.eof_written, "write after write_eof"
        self.buffer += data

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.write(part)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.finished.set()
            if self.protocol is not None:
                asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True
        self.finished.set()

    def pause_reading(self) -> None:
        self.read_paused = True

    def resume_reading(self) -> None:
        self.read_paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


@dataclass
class Conn:
    """A protocol wired to a MockTransport, plus helpers to drive it."""

    protocol: HttpProtocol
    transport: MockTransport
    state: ServerState

    def feed(self, data: bytes) -> None:
        self.protocol.data_received(data)

    async def settle(self, rounds: int = 20) -> None:
        """Let handler tasks and call_soon callbacks run (no wall-clock wait)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    @property
    def lost(self) -> bool:
        return self.protocol not in self.state.connections


def make_conn(handler: Handler, limits: Limits | None = None, *, linger_secs: float = 0.2) -> Conn:
    loop = asyncio.get_running_loop()
    state = ServerState(handler, limits or Limits(), loop, linger_secs=linger_secs)
    protocol = HttpProtocol(state)
    transport = MockTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return Conn(protocol, transport, state)


# --------------------------------------------------------------------------- h11 strict peer


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes]
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes
    http_version: bytes = b"1.1"


@dataclass
class Peer:
    """h11 as a strict client: parses the server's responses, in order."""

    conn: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    pending: list[Response] = field(default_factory=list)
    closed: bool = False

    def request_bytes(
        self,
        method: str = "GET",
        target: str = "/",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> bytes:
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        hdrs = headers if headers is not None else [("host", "test")]
        if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in hdrs):
            hdrs = [*hdrs, ("content-length", str(len(body)))]
        out = self.conn.send(h11.Request(method=method, target=target, headers=hdrs)) or b""
        if body:
            out += self.conn.send(h11.Data(data=body)) or b""
        out += self.conn.send(h11.EndOfMessage()) or b""
        return out

    def expect_request(self, method: str = "GET") -> None:
        """Tell h11 a request was sent by other means (raw bytes), so it can parse the answer."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        self.conn.send(h11.Request(method=method, target="/", headers=[("host", "test")]))
        self.conn.send(h11.EndOfMessage())

    def receive(self, data: bytes, *, eof: bool = False) -> list[Response]:
        """Feed bytes from the server; return the responses completed so far."""
        if data:
            self.conn.receive_data(data)
        if eof:
            self.conn.receive_data(b"")
        done: list[Response] = []
        current: Response | None = None
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                current = Response(
                    event.status_code,
                    {bytes(k): bytes(v) for k, v in event.headers},
                    [(bytes(k), bytes(v)) for k, v in event.headers],
                    b"",
                    bytes(event.http_version),
                )
                self.pending.append(current)
            elif isinstance(event, h11.Data):
                self.pending[-1].body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                done.append(self.pending.pop())
                if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                    break
            elif isinstance(event, h11.ConnectionClosed):
                self.closed = True
                break
        return done


def parse_responses(data: bytes, methods: list[str], *, eof: bool = True) -> list[Response]:
    """Parse ``len(methods)`` pipelined responses from ``data`` with h11 (strictly)."""
    peer = Peer()
    results: list[Response] = []
    peer.conn.receive_data(data)
    if eof:
        peer.conn.receive_data(b"")
    for method in methods:
        peer.expect_request(method)
        results.extend(peer.receive(b""))
    return results


# --------------------------------------------------------------------------- live server


@dataclass
class Live:
    server: HttpServer
    port: int

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@asynccontextmanager
async def serve(handler: Handler, limits: Limits | None = None) -> AsyncIterator[Live]:
    """An HttpServer on 127.0.0.1:0 in this loop, shut down at exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = HttpServer(handler, limits or Limits())
    try:
        await server.start(sock)
        yield Live(server, sock.getsockname()[1])
    finally:
        await server.shutdown(0.5)
        sock.close()


async def read_until_closed(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout)


async def exchange_over(
    live: Live, data: bytes, methods: list[str], *, timeout: float = 5.0
) -> tuple[list[Response], bool]:
    """Send raw bytes, read until the server closes (or ``len(methods)`` answers arrive)."""
    reader, writer = await live.open()
    peer = Peer()
    responses: list[Response] = []
    try:
        writer.write(data)
        for method in methods:
            peer.expect_request(method)
            while True:
                got = peer.receive(b"")
                if got:
                    responses.extend(got)
                    break
                if peer.closed:
                    return responses, True
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
                peer.conn.receive_data(chunk)
                if not chunk:
                    peer.conn.receive_data(b"")  # no-op if already at EOF
        return responses, False
    finally:
        writer.close()


async def respond_ok(exchange: Exchange) -> None:
    exchange.respond(200, [(b"content-type", b"text/plain")], b"ok")


AsyncHandler = Callable[[Exchange], Awaitable[None]]
