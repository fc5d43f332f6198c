"""The response side of one upstream exchange: status, headers and a backpressured body.

The body is buffered in a small list fed by the connection's parser callbacks.
When the consumer lags past ``HIGH_WATER`` buffered bytes, the connection stops
reading from the upstream; at ``LOW_WATER`` it resumes. So a slow client never
makes the gateway hold a large response. A fully received message has already
handed its connection back to the pool (its bytes are here); closing an
unfinished response aborts its connection, which is never reused.
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

from ferrogate._fastpath.response_head import response_fields
from ferrogate._fastpath.upstream_errors import UpstreamBodyTooLarge

HIGH_WATER: Final = 64 * 1024
"""Buffered response bytes above which the upstream transport pauses reading."""
LOW_WATER: Final = 16 * 1024
"""Buffered response bytes at or below which reading resumes."""
# A future made by its class (see http1._NEW_FUTURE): a stream waits on one per read.
_NEW_FUTURE: Final = asyncio.Future


class NativeReader(Protocol):
    """What the connection reads of the C relay reading its socket."""

    @property
    def last_read(self) -> float: ...


class FlowSource(Protocol):
    """What a response needs from its connection (``UpstreamConnection``)."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def abandon(self, resp: UpstreamResponse) -> None: ...

    def hand_over_socket(self, resp: UpstreamResponse) -> int | None: ...

    native: NativeReader | None


class ChunkSink(Protocol):
    """Takes body bytes inside the connection's read callback (:meth:`UpstreamResponse.push`)."""

    def take(self, data: bytes) -> bool:
        """Handle ``data``; False to stop being pushed to for now (the client is behind)."""
        ...


class UpstreamResponse:
    """Status, headers and a backpressured body of one upstream response."""

    __slots__ = (
        "_chunks",
        "_closed",
        "_conn",
        "_done",
        "_error",
        "_fields",
        "_head",
        "_head_at",
        "_loop",
        "_paused",
        "_sink",
        "_sink_error",
        "_size",
        "_waiter",
        "chunked",
        "content_length",
        "keep_alive",
        "lists_hop_headers",
        "relay_lines",
        "reused",
        "status",
    )

    def __init__(
        self, conn: FlowSource, reused: bool, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self._conn: FlowSource | None = conn
        self._loop = loop  # given: no asyncio.get_running_loop() (a getpid() call on 3.11) per wait
        self.status = 0
        self._fields: list[tuple[bytes, bytes]] | None = []
        self._head = b""  # with _fields None: the head the fields are read from when asked
        self._head_at = 0
        # The fields a relayed response carries, serialized (set_head): None when unknown.
        self.relay_lines: bytes | None = None
        self.content_length: int | None = None
        self.chunked = False
        self.keep_alive = True
        self.lists_hop_headers = False  # a Connection header names more hop-by-hop fields
        self.reused = reused
        self._chunks: list[bytes] = []  # each read takes all of it; a deque costs 0.5 KB more
        self._size = 0
        self._done = False
        self._closed = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._sink: ChunkSink | None = None  # push(): bytes go here as they are read
        self._sink_error: BaseException | None = None

    # ------------------------------------------------------------ public API

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The fields as received: names lowercased, values without their leading whitespace."""
        fields = self._fields
        if fields is None:
            fields = self._fields = response_fields(self._head, self._head_at)
            self._head = b""
        return fields

    @headers.setter
    def headers(self, fields: list[tuple[bytes, bytes]]) -> None:
        self._fields = fields
        self._head = b""
        self.relay_lines = None

    def set_head(self, head: bytes, start: int, relay_lines: bytes) -> None:
        """The head (its status line at ``start``), read for its fields only when something
        asks: a 2xx the AI path relays never does, and a proxied response that fully arrived
        is sent with ``relay_lines``, its fields as relayed (``pump.relay_complete``)."""
        self._fields = None
        self._head = head
        self._head_at = start
        self.relay_lines = relay_lines

    def header(self, name: bytes) -> bytes | None:
        """First value of a header (``name`` lowercased), or None."""
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def release_head(self) -> None:
        """The head has been acted on: its headers (~0.4 KB) are not kept for the rest of a
        long stream."""
        self._fields = []
        self._head = b""
        self.relay_lines = None

    @property
    def complete(self) -> bool:
        """The whole body has been received (it may still sit in the buffer)."""
        return self._done

    @property
    def error(self) -> BaseException | None:
        """Why the body could not be received (already known), or None."""
        return self._error

    def complete_body(self) -> bytes | None:
        """The whole body, without awaiting, if it has fully arrived; else None."""
        if not self._done or self._error is not None:
            return None
        chunks = self._chunks
        self._size = 0
        if not chunks:
            return b""
        if len(chunks) == 1:
            return chunks.pop()
        data = b"".join(chunks)
        chunks.clear()
        return data

    async def read(self, max_bytes: int | None = None) -> bytes:
        """The whole body. More than ``max_bytes`` → :class:`UpstreamBodyTooLarge`."""
        chunks = self._chunks
        if self._done and len(chunks) <= 1 and self._error is None:
            data = chunks.pop() if chunks else b""
            self._size = 0
            if max_bytes is not None and len(data) > max_bytes:
                raise UpstreamBodyTooLarge(max_bytes)
            return data
        parts: list[bytes] = []
        total = 0
        while True:
            for data in chunks:
                total += len(data)
                parts.append(data)
            chunks.clear()
            self._size = 0
            if max_bytes is not None and total > max_bytes:
                self.close()
                raise UpstreamBodyTooLarge(max_bytes)
            if self._paused:
                self._resume()
            if self._error is not None:
                raise self._error
            if self._done or self._closed:
                return b"".join(parts)
            await self._wait()

    def chunks(self) -> UpstreamResponse:
        """``async for chunk in response.chunks()``: body bytes as they arrive.

        Each step hands over everything buffered so far (joined), so a fast
        producer costs fewer writes downstream.
        """
        return self

    async def push(self, sink: ChunkSink) -> bool:
        """Hand the body to ``sink.take`` as it is read, in the connection's read callback:
        a long stream of small reads then costs no task wake-up per read. Returns False when
        the body is complete, True when ``sink`` asked to stop (await the client, then push
        again; meanwhile reads are buffered, with the usual backpressure). Raises what the
        body failed with, or what ``sink.take`` raised."""
        chunks = self._chunks
        if chunks:
            if len(chunks) == 1:
                data = chunks.pop()
            else:
                data = b"".join(chunks)
                chunks.clear()
            self._size = 0
            if self._paused:
                self._resume()
            if not sink.take(data):
                return True
        # State is re-read through _ended() after each wait: a narrowed attribute would be
        # trusted across the await by the compiled build.
        while not self._ended():
            self._sink = sink
            try:
                await self._wait()
            finally:
                self._sink = None
            failed = self._sink_error
            if failed is not None:
                self._sink_error = None
                raise failed
            if self._chunks or not self._ended():  # the sink stopped (later reads are buffered)
                return True
        error = self._error
        if error is not None:
            raise error
        return False

    def hand_over_socket(self) -> int | None:
        """A duplicate of the upstream socket for the C relay to read the rest of the body from
        (see ``UpstreamConnection.hand_over_socket``), or None when that is not safe now."""
        conn = self._conn
        if conn is None or self._chunks or self._ended():
            return None
        return conn.hand_over_socket(self)

    def read_natively(self, reader: NativeReader | None) -> None:
        """The C relay now reads the socket (None: no longer): its reads keep the idle deadline."""
        conn = self._conn
        if conn is not None:
            conn.native = reader

    async def wait(self) -> None:
        """Until :meth:`wake`, or the body fails (a deadline), or the response is closed."""
        if not self._ended():
            await self._wait()

    def wake(self) -> None:
        self._wake()

    def _ended(self) -> bool:
        return self._done or self._closed or self._error is not None

    def __aiter__(self) -> UpstreamResponse:
        return self

    async def __anext__(self) -> bytes:
        chunks = self._chunks
        while not chunks:
            if self._error is not None:
                raise self._error
            if self._done or self._closed:
                raise StopAsyncIteration
            await self._wait()
        if len(chunks) == 1:
            data = chunks.pop()
        else:
            data = b"".join(chunks)
            chunks.clear()
        self._size -= len(data)
        if self._paused and self._size <= LOW_WATER:
            self._resume()
        return data

    def close(self) -> None:
        """Stop using the response. Unfinished → its connection is aborted, never reused."""
        if self._closed:
            return
        self._closed = True
        self._chunks.clear()
        self._size = 0
        conn = self._conn
        self._conn = None
        if conn is not None and not self._done:
            conn.abandon(self)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ connection side

    def _feed(self, data: bytes) -> None:
        if self._closed:
            return
        sink = self._sink
        if sink is not None:
            try:
                if sink.take(data):
                    return
            except BaseException as exc:  # the pushing coroutine raises it
                self._sink_error = exc
            self._sink = None
            self._wake()
            return
        self._chunks.append(data)
        self._size += len(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self._size > HIGH_WATER and not self._paused:
            conn = self._conn
            if conn is not None:
                self._paused = True
                conn.pause_reading()

    def _finish(self) -> None:
        """The message is complete; the connection no longer belongs to us."""
        self._done = True
        self._conn = None
        self._paused = False
        if self._waiter is not None:
            self._wake()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self._conn = None
        self._paused = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _resume(self) -> None:
        self._paused = False
        conn = self._conn
        if conn is not None:
            conn.resume_reading()

    async def _wait(self) -> None:
        waiter: asyncio.Future[None] = _NEW_FUTURE(loop=self._loop or asyncio.get_running_loop())
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None
