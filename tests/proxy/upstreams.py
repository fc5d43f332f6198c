"""Programmable HTTP/1.1 test upstreams (asyncio + h11 as a strict peer).

Each :class:`TestUpstream` listens on 127.0.0.1:0, counts the TCP connections
it accepted, records the requests it saw, and hands every request to an async
handler that can answer normally or misbehave (stall, close, stream slowly).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import h11


class UpRequest:
    """One request as the upstream saw it."""

    def __init__(self, conn: UpConn, event: h11.Request) -> None:
        self._conn = conn
        self.method = event.method
        self.target = event.target
        self.headers: list[tuple[bytes, bytes]] = [(n.lower(), v) for n, v in event.headers]
        self.body_parts: list[bytes] = []
        self.body_done = False
        self.conn_index = conn.index
        self.request_index = conn.requests

    def header(self, name: bytes) -> bytes | None:
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def header_all(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n == name]

    async def stream(self) -> AsyncIterator[bytes]:
        while not self.body_done:
            event = await self._conn.next_event()
            if isinstance(event, h11.Data):
                self.body_parts.append(bytes(event.data))
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.body_done = True

    async def body(self) -> bytes:
        async for _ in self.stream():
            pass
        return b"".join(self.body_parts)


class UpConn:
    """Server side of one accepted connection."""

    def __init__(
        self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.index = index
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER)
        self.requests = 0
        self.closed = False

    async def next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(65536)
                self.h11.receive_data(data)
                continue
            return event

    def send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)

    async def respond(
        self, status: int, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b""
    ) -> None:
        hdrs = list(headers or [])
        if not any(n.lower() in (b"content-length", b"transfer-encoding") for n, _ in hdrs):
            hdrs.append((b"content-length", b"%d" % len(body)))
        self.send(h11.Response(status_code=status, headers=hdrs))
        if body:
            self.send(h11.Data(data=body))
        self.send(h11.EndOfMessage())
        await self.writer.drain()

    def close(self) -> None:
        self.closed = True
        self.writer.close()


Handler = Callable[[UpRequest, UpConn], Awaitable[None]]


async def echo_handler(req: UpRequest, conn: UpConn) -> None:
    body = await req.body()
    await conn.respond(200, [(b"content-type", b"text/plain"), (b"x-path", req.target)], body)


class TestUpstream:
    """An HTTP/1.1 server for tests: ``async with TestUpstream(handler) as up: up.port``."""

    __test__ = False

    def __init__(self, handler: Handler = echo_handler, *, ssl: Any = None) -> None:
        self.handler = handler
        self.ssl = ssl
        self.connections = 0
        self.requests: list[UpRequest] = []
        self.conns: list[UpConn] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TestUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.conns:
            conn.writer.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = UpConn(self.connections, reader, writer)
        self.connections += 1
        self.conns.append(conn)
        try:
            while not conn.closed:
                event = await conn.next_event()
                if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    break
                if not isinstance(event, h11.Request):
                    break
                conn.requests += 1
                req = UpRequest(conn, event)
                self.requests.append(req)
                await self.handler(req, conn)
                if conn.closed:
                    break
                if not req.body_done:
                    await req.body()
                if conn.h11.our_state is not h11.DONE or conn.h11.their_state is not h11.DONE:
                    break  # raw writes or must-close: end the connection
                conn.h11.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            self._tasks.discard(task)
