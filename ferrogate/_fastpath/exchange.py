"""One request/response pair on a connection (implements ``api.Exchange``).

The connection (``http1.HttpProtocol``) owns the socket, the parser and the
pipeline; an :class:`HttpExchange` owns one request's body buffer and one
response's framing. Body bytes arrive through :meth:`feed_body` from the
parser; the application pulls them with :meth:`read_body` or
:meth:`body_chunks`, and reading from the socket pauses while the buffer is
above its high-water mark.

Why one module: the request body buffer and the response framing of one
exchange meet in the same few decisions (keep-alive after an unread body, 100
Continue only before the response starts, HEAD and no-body statuses); the
chunk iterator at the end is the only other class and exists for the body.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from enum import IntEnum
from typing import TYPE_CHECKING, Final

from ferrogate._fastpath.api import Headers
from ferrogate._fastpath.flow import BODY_HIGH_WATER, BODY_LOW_WATER, PAUSE_BODY
from ferrogate._fastpath.number_bytes import decimal_between
from ferrogate._fastpath.request import HttpRequest
from ferrogate._fastpath.wire import (
    CHUNKED_END,
    CONNECTION_CLOSE,
    CONNECTION_KEEP_ALIVE,
    CONTINUE_100,
    CRLF,
    NO_BODY_STATUS,
    STATUS_LINE,
    TRANSFER_CHUNKED,
    chunk,
    header_lines,
    status_line,
    whole_response,
)
from ferrogate.errors import ErrorFlavor, GatewayError, render

if TYPE_CHECKING:
    from ferrogate._fastpath.http1 import HttpProtocol


class ResponseState(IntEnum):
    NOT_STARTED = 0
    STARTED = 1
    COMPLETE = 2


class Framing(IntEnum):
    """How the response body is delimited on the wire."""

    NONE = 0  # HEAD, 1xx/204/304: no body bytes at all
    LENGTH = 1  # content-length
    CHUNKED = 2  # transfer-encoding: chunked (HTTP/1.1)
    CLOSE = 3  # read until close (HTTP/1.0 without a length)


# Members as Final module constants: compiled, each is a C static (a plain module global
# is a dict lookup per use); interpreted, a global beats an Enum class attribute on 3.11.
_NOT_STARTED: Final = ResponseState.NOT_STARTED
_STARTED: Final = ResponseState.STARTED
_COMPLETE: Final = ResponseState.COMPLETE
_NO_BODY: Final = Framing.NONE
_OPENAI_FLAVOR: Final = ErrorFlavor.OPENAI
_LENGTH: Final = Framing.LENGTH
_CHUNKED: Final = Framing.CHUNKED
_CLOSE_DELIMITED: Final = Framing.CLOSE

# A future made by its class (see http1._NEW_FUTURE): a body still arriving is waited on.
_NEW_FUTURE: Final = asyncio.Future
_CONTENT_LENGTH: Final = b"content-length: "
# Data above this size is written as (prefix, data, CRLF) to avoid copying it into one chunk.
_COPY_LIMIT: Final = 16 * 1024


class HttpExchange:
    __slots__ = (
        "_body_buffered",
        "_body_done",
        "_body_error",
        "_body_parts",
        "_body_received",
        "_body_waiter",
        "_conn",
        "_expect_continue",
        "_framing",
        "_head_only",
        "_held",
        "_held_size",
        "_read_all",
        "_remaining",
        "_response",
        "_transport",
        "body_bytes",
        "disconnected",
        "keep_alive",
        "log_key_id",
        "log_request_id",
        "log_upstream",
        "received_at",
        "request",
        "status",
    )

    def __init__(
        self,
        conn: HttpProtocol,
        transport: asyncio.Transport,
        request: HttpRequest,
        received_at: float,
        expect_continue: bool,
        body_done: bool,
    ) -> None:
        self._conn = conn
        self._transport = transport
        self.request = request  # HttpRequest: compiled callers read its fields directly
        self.received_at = received_at
        self.keep_alive = request.keep_alive
        self.disconnected = False
        self._response = _NOT_STARTED
        self._framing = _NO_BODY
        self._head_only = request.method == b"HEAD"
        self._expect_continue = expect_continue
        self._body_parts: list[bytes] = []
        self._body_buffered = 0
        self._body_received = 0
        self._body_done = body_done
        self._body_error: GatewayError | None = None
        self._body_waiter: asyncio.Future[None] | None = None
        self._read_all = False
        self._remaining = 0  # body bytes still owed under content-length framing
        self._held: list[bytes] | None = None  # response bytes corked until the loop's next turn
        self._held_size = 0
        # For the access log: what was answered, and what the handler says it did.
        self.status = 0
        self.body_bytes = 0
        self.log_request_id: bytes | None = None
        self.log_upstream: object = None  # an upstream URL, or (provider, provider model)
        self.log_key_id: str | None = None

    # ------------------------------------------------------------------ state

    @property
    def started(self) -> bool:
        return self._response != _NOT_STARTED

    @property
    def complete(self) -> bool:
        return self._response == _COMPLETE

    @property
    def body_done(self) -> bool:
        return self._body_done

    @property
    def body_intact(self) -> bool:
        """The whole request body arrived without error (the connection can be reused)."""
        return self._body_done and self._body_error is None

    # ------------------------------------------------------- body, parser side

    def feed_body(self, data: bytes) -> bool:
        """Buffer body bytes; False when the body limit is exceeded (caller rejects)."""
        self._body_received += len(data)
        if self._body_received > self._conn.state.max_body:
            return False
        self._body_parts.append(data)
        self._body_buffered += len(data)
        if self._body_buffered > BODY_HIGH_WATER and not self._read_all:
            self._conn.flow.pause_reading(PAUSE_BODY)
        self._wake()
        return True

    def finish_body(self) -> None:
        self._body_done = True
        self._wake()

    def fail_body(self, err: GatewayError) -> None:
        """The body cannot be completed (bad framing, too large, timeout, disconnect)."""
        if self._body_error is None:
            self._body_error = err
        self._body_done = True
        self.keep_alive = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._body_waiter
        if waiter is not None:
            self._body_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -------------------------------------------------- body, application side

    def take_body(self) -> bytes | None:
        """The whole body when it has already arrived intact, else None (then
        :meth:`read_body`): most bodies come with their head, and need no await."""
        if not self._body_done or self._body_error is not None:
            return None
        parts = self._body_parts
        self._body_parts = []
        self._body_buffered = 0
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    async def read_body(self) -> bytes:
        self._read_all = True
        while not self._body_done:
            await self._wait_body()
        if self._body_error is not None:
            raise self._body_error
        body = self.take_body()
        assert body is not None
        return body

    def body_chunks(self) -> AsyncIterator[bytes]:
        return BodyChunks(self)

    async def _wait_body(self) -> None:
        if self._body_error is not None:
            raise self._body_error
        if self._expect_continue:
            self._expect_continue = False
            if not self.started and not self.disconnected:
                self._transport.write(CONTINUE_100)
        self._resume_if_parsing()
        waiter: asyncio.Future[None] = _NEW_FUTURE(loop=self._conn.state.loop)
        self._body_waiter = waiter
        conn = self._conn
        conn.body_wait_started()
        try:
            await waiter
        finally:
            conn.body_wait_ended()

    def _resume_if_parsing(self) -> None:
        # read_body() wants everything (bounded by max_body_bytes), so it always resumes.
        if self._conn.parsing is self and (self._read_all or self._body_buffered < BODY_LOW_WATER):
            self._conn.flow.resume_reading(PAUSE_BODY)

    # ---------------------------------------------------------------- response

    def _connection_line(self) -> bytes:
        # An unfinished request body makes the connection unusable after this response.
        if not self.keep_alive or self._conn.draining or not self._body_done or self._body_error is not None:
            self.keep_alive = False
            return CONNECTION_CLOSE
        if self.request.http_version == "1.0":
            return CONNECTION_KEEP_ALIVE
        return b""

    def respond(self, status: int, headers: Headers | bytes, body: bytes) -> None:
        if self._response != _NOT_STARTED:
            raise RuntimeError("response already started")
        self._response = _COMPLETE
        if self.disconnected:
            return
        if type(headers) is bytes:
            lines = headers  # a block from ferrogate._fastpath.head, checked when it was built
        else:
            lines, app_close = header_lines(headers)  # type: ignore[arg-type]
            if app_close:
                self.keep_alive = False
        self._send_whole(status, lines, body)

    def fail(
        self,
        err: GatewayError,
        flavor: ErrorFlavor = _OPENAI_FLAVOR,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """Answer with ``err`` rendered by :func:`ferrogate.errors.render` in ``flavor``,
        plus ``extra`` headers (the request id a handler assigned)."""
        status, headers, body = render(err, flavor)
        if extra:
            headers.extend(extra)
        self.respond(status, headers, body)

    def _send_whole(self, status: int, lines: bytes, body: bytes) -> None:
        self.status = status
        if status in NO_BODY_STATUS:
            length = b""
            body = b""
        else:
            length = decimal_between(_CONTENT_LENGTH, len(body), CRLF)
            if self._head_only:
                body = b""
        self.body_bytes = len(body)
        conn = self._conn
        if len(body) <= _COPY_LIMIT:
            # whole_response's join, inline: this runs for every buffered response.
            first = STATUS_LINE.get(status) or status_line(status)
            self._transport.write(
                b"".join((first, conn.state.date.block, self._connection_line(), length, lines, CRLF, body))
            )
        else:  # no copy of a large body
            head = whole_response(status, conn.state.date.block, self._connection_line(), length, lines, b"")
            self._transport.writelines((head, body))
        conn.response_complete(self)

    def start_response(self, status: int, headers: Headers | bytes, content_length: int | None = None) -> None:
        if self._response != _NOT_STARTED:
            raise RuntimeError("response already started")
        if type(headers) is bytes:
            lines = headers
        else:
            lines, app_close = header_lines(headers)  # type: ignore[arg-type]
            if app_close:
                self.keep_alive = False
        self._response = _STARTED
        self.status = status
        if status in NO_BODY_STATUS:
            framing = _NO_BODY
            length = b""
        elif content_length is not None:
            framing = _LENGTH
            length = decimal_between(_CONTENT_LENGTH, content_length, CRLF)
            self._remaining = content_length
        elif self.request.http_version == "1.1":
            framing = _CHUNKED
            length = TRANSFER_CHUNKED
        else:
            framing = _CLOSE_DELIMITED
            length = b""
            self.keep_alive = False
        if self._head_only:
            framing = _NO_BODY
            self._remaining = 0
        self._framing = framing
        if self.disconnected:
            return
        self._hold(
            b"".join(
                (
                    status_line(status),
                    self._conn.state.date.block,
                    self._connection_line(),
                    length,
                    lines,
                    CRLF,
                )
            )
        )

    # The head and whatever body the application writes in the same loop turn (a short
    # stream: head, events, last chunk) leave in one transport write (one send()) at the
    # end of that turn, instead of one each. Nothing waits longer than the turn.

    def _hold(self, data: bytes) -> None:
        held = self._held
        if held is None:
            if self._held_size < 0:
                # Past the first turn: a long stream's per-read writes go straight out
                # (a callback per read would cost more than the send() it might save).
                self._transport.write(data)
                return
            self._held = [data]
            self._held_size = len(data)
            self._conn.state.loop.call_soon(self.flush)
        else:
            held.append(data)
            self._held_size += len(data)
            if self._held_size > _COPY_LIMIT:
                self.flush()

    def flush(self) -> None:
        """Hand corked response bytes to the transport now (also before any close)."""
        held = self._held
        if held is None:
            return
        self._held = None
        self._held_size = -1  # corked once, in the turn that started the response
        if not self.disconnected:
            if len(held) == 1:
                self._transport.write(held[0])
            else:
                self._transport.writelines(held)  # one writev(), no joined copy

    def write(self, data: bytes) -> None:
        if self._response != _STARTED:
            raise RuntimeError("write() outside a started response")
        if not data or self.disconnected:
            return
        self.body_bytes += len(data)
        framing = self._framing
        if framing == _CHUNKED:
            if len(data) <= _COPY_LIMIT:
                self._hold(chunk(data))
            else:
                self.flush()
                self._transport.writelines((b"%x\r\n" % len(data), data, CRLF))
        elif framing == _LENGTH:
            # Never put more on the wire than announced: extra bytes would be read by the
            # client as the start of the next response.
            if len(data) > self._remaining:
                raise RuntimeError(f"write() exceeds content-length by {len(data) - self._remaining} bytes")
            self._remaining -= len(data)
            self._write(data)
        elif framing == _CLOSE_DELIMITED:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if len(data) <= _COPY_LIMIT:
            self._hold(data)
        else:
            self.flush()
            self._transport.write(data)

    def hand_over_socket(self) -> int | None:
        """A duplicate of the client socket for the C relay to write the rest of a chunked body
        to, or None when that is not safe: TLS, bytes still queued in the transport, another
        framing. Whatever it writes is counted with :meth:`handed_back`."""
        if self._response != _STARTED or self._framing != _CHUNKED or self.disconnected:
            return None
        self.flush()
        transport = self._transport
        if transport.get_write_buffer_size() or transport.get_extra_info("sslcontext") is not None:
            return None
        sock = transport.get_extra_info("socket")
        if sock is None:
            return None
        return os.dup(sock.fileno())

    @property
    def write_timeout(self) -> float:
        """Seconds a client may take nothing before it is cut off (0: never)."""
        return self._conn.state.write_timeout

    def handed_back(self, body_bytes: int, client_gone: bool) -> None:
        """The C relay is done with the socket: count its body bytes; a client it found gone
        is dropped here (the connection's own loss report may come a turn later)."""
        self.body_bytes += body_bytes
        if client_gone and not self.disconnected:
            self.disconnected = True
            self._transport.abort()

    @property
    def writing_paused(self) -> bool:
        return self._conn.flow.writing_paused

    async def drain(self) -> None:
        flow = self._conn.flow
        if flow.writing_paused:
            self.flush()  # the transport must hold what we wait on
            await flow.drain()

    def end(self) -> None:
        if self._response != _STARTED:
            raise RuntimeError("end() outside a started response")
        self._response = _COMPLETE
        if self.disconnected:
            return
        if self._framing == _CHUNKED:
            held = self._held
            if held is not None:
                held.append(CHUNKED_END)
                self.flush()
            else:
                self._transport.write(CHUNKED_END)
        else:
            self.flush()
            if self._remaining:
                self.keep_alive = False  # short body: the client sees a truncated response, then close
        self._conn.response_complete(self)

    def __repr__(self) -> str:
        return f"HttpExchange({self.request!r}, {self._response.name})"


class BodyChunks:
    """Async iterator over a request body's chunks as they arrive (:meth:`HttpExchange.body_chunks`).

    A class rather than an ``async def`` generator because mypyc cannot compile
    async generators. Each refill takes every buffered part at once (and resumes
    reading) and hands them out one by one; after the end or an error it is exhausted.
    """

    __slots__ = ("_exchange", "_finished", "_index", "_parts")

    def __init__(self, exchange: HttpExchange) -> None:
        self._exchange = exchange
        self._parts: list[bytes] = []
        self._index = 0
        self._finished = False

    def __aiter__(self) -> BodyChunks:
        return self

    async def __anext__(self) -> bytes:
        exchange = self._exchange
        while not self._finished:
            if self._index < len(self._parts):
                part = self._parts[self._index]
                self._index += 1
                return part
            if exchange._body_parts:
                self._parts = exchange._body_parts
                self._index = 0
                exchange._body_parts = []
                exchange._body_buffered = 0
                exchange._resume_if_parsing()
                continue
            if exchange._body_done:
                self._finished = True
                self._parts = []
                if exchange._body_error is not None:
                    raise exchange._body_error
                break
            try:
                await exchange._wait_body()
            except BaseException:
                self._finished = True
                raise
        raise StopAsyncIteration
