"""HTTP/1.1 client protocol for one upstream connection.

One :class:`UpstreamConnection` carries one request at a time (no pipelining).
Its life is an explicit :class:`ConnState`: NEW (just connected) → ACTIVE (a
request in flight) → IDLE (back in the pool) → ... → CLOSED. Parser callbacks
only record and wake waiters; awaiting happens in the pool (the head future
from :meth:`UpstreamConnection.send`) and in :class:`UpstreamResponse`
(``upstream_response.py``). Deadlines are checked by a per-pool
:class:`Watchdog` (``upstream_deadlines.py``).

A fully received message hands its connection back to the pool at once (its
bytes are already in the response's buffer); an abandoned response aborts its
connection, and a connection that receives anything while idle is dead.

Why one module: the client protocol's callbacks, its state machine and the
send path share one connection's state the same way the server side does; the
response object and the deadline watchdog, which have their own state, are
already their own modules.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from enum import IntEnum
from typing import Final, cast

import httptools

from ferrogate._fastpath.bytes_search import find
from ferrogate._fastpath.request_head import forward_fields
from ferrogate._fastpath.response_head import head_end
from ferrogate._fastpath.upstream_deadlines import Timeouts, Watchdog
from ferrogate._fastpath.upstream_errors import (
    Phase,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from ferrogate._fastpath.upstream_response import (
    HIGH_WATER,
    LOW_WATER,
    NativeReader,
    UpstreamResponse,
)
from ferrogate._fastpath.wire import HOP_BY_HOP, SERVER_OWNED

Body = bytes | AsyncIterator[bytes]
"""A request body: bytes (replayable) or a stream of chunks (sent once)."""


__all__ = [
    "HIGH_WATER",
    "LOW_WATER",
    "Body",
    "ConnState",
    "Timeouts",
    "UpstreamConnection",
    "UpstreamResponse",
    "Watchdog",
]


class ConnState(IntEnum):
    NEW = 0
    ACTIVE = 1
    IDLE = 2
    CLOSED = 3


# Members as Final module constants, read per request: compiled, each is a C static (a
# plain module global is a dict lookup per use); interpreted, a global beats an Enum class
# attribute on 3.11 by an order of magnitude.
_NEW: Final = ConnState.NEW
_ACTIVE: Final = ConnState.ACTIVE
_IDLE: Final = ConnState.IDLE
_CLOSED: Final = ConnState.CLOSED

ReleaseFn = Callable[["UpstreamConnection", bool], None]
"""Called once per finished exchange: (connection, reusable)."""

_NO_BODY_STATUS: Final = frozenset((204, 304))
_NEVER: Final = float("inf")
_PLAIN_CONNECTION: Final = frozenset((b"keep-alive", b"close"))
# Response headers the connection reads for itself (framing, and Connection's list).
_NOTED: Final[tuple[bytes, ...]] = (b"connection", b"content-length", b"transfer-encoding")
# The other fields a relayed response does not carry as the upstream sent them: hop-by-hop,
# framing, and the server's own.
_NOT_RELAYED: Final = tuple(sorted((HOP_BY_HOP | SERVER_OWNED).difference(_NOTED)))


MAX_UPSTREAM_HEAD_BYTES: Final = 64 * 1024
"""An upstream's status line and headers beyond this are a 502, and the connection is closed."""

# What a connection handed to the C relay keeps instead of its transport's protocol role and its
# parser: neither is ever called again (the transport is closed, nothing feeds the parser).
_DETACHED: Final = asyncio.Protocol()
_DETACHED_PARSER: Final = httptools.HttpResponseParser(_DETACHED)
_DETACHED_FEED: Final = _DETACHED_PARSER.feed_data
_DETACHED_STATUS: Final = _DETACHED_PARSER.get_status_code
_DETACHED_KEEP_ALIVE: Final = _DETACHED_PARSER.should_keep_alive
# A future made by its class (see http1._NEW_FUTURE).
_NEW_FUTURE: Final = asyncio.Future


class UpstreamConnection(asyncio.Protocol):
    """One HTTP/1.1 connection to an upstream, driven by httptools callbacks."""

    __slots__ = (
        "_body_task",
        "_drain_waiter",
        "_feed",
        "_first_byte_due",
        "_got_bytes",
        "_head_buf",
        "_head_done",
        "_head_pos",
        "_head_waiter",
        "_interim",
        "_keeps_alive",
        "_last_body",
        "_last_read",
        "_loop",
        "_read_paused",
        "_release",
        "_request_done",
        "_response",
        "_skip_body",
        "_status_code",
        "_timeouts",
        "_total_due",
        "_transport",
        "_watchdog",
        "_write_paused",
        "at_chunk_start",
        "idle_since",
        "native",
        "requests",
        "state",
        "wheel_slot",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, release: ReleaseFn, watchdog: Watchdog
    ) -> None:
        self._loop = loop
        self._release = release
        self._watchdog = watchdog
        self.wheel_slot = 0  # armed in the watchdog's deadline wheel (0: not)
        self._transport: asyncio.Transport | None = None
        self._use_parser(httptools.HttpResponseParser(self))
        self.state = _NEW
        self.requests = 0
        self.idle_since = 0.0
        self._response: UpstreamResponse | None = None
        # The reads since the request went out, until its response's head is complete (the
        # fields are cut from it: response_head), and where the next head in them begins.
        self._head_buf: bytes | bytearray = b""
        self._head_pos = 0
        self._head_waiter: asyncio.Future[UpstreamResponse] | None = None
        self._head_done = False
        self._interim = False
        self._skip_body = False
        self._got_bytes = False
        self._request_done = False
        self._read_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._body_task: asyncio.Task[None] | None = None
        self._timeouts = Timeouts()
        self._first_byte_due = _NEVER
        self._total_due = _NEVER
        self._last_read = 0.0
        self._last_body: bytes | None = None  # the last body piece of the current read
        # Whether the last read ended exactly where a chunk's framing begins (see data_received).
        self.at_chunk_start = False
        # The C relay reading this connection's socket itself (its reads keep the idle deadline).
        self.native: NativeReader | None = None

    def _use_parser(self, parser: httptools.HttpResponseParser) -> None:
        """The parser's methods a response calls, bound once (they keep the parser): a method of
        a Cython object called by name costs a lookup each time (about 150 instructions, four a
        response)."""
        self._feed = parser.feed_data
        self._status_code = parser.get_status_code
        self._keeps_alive = parser.should_keep_alive

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.state is not _ACTIVE:
            # An idle connection that receives anything (a 408, garbage, a
            # stray close) is dead: never hand it out again.
            self._mark_dead()
            return
        self._got_bytes = True
        self._last_read = self._watchdog.now()
        if not self._head_done:
            buf = self._head_buf
            if not buf:
                self._head_buf = data  # the usual head: one read, kept without a copy
            elif isinstance(buf, bytearray):
                buf += data  # a head in many reads grows in place, not by a copy per read
            else:
                self._head_buf = bytearray(buf) + data
        try:
            self._feed(data)
            # A read that ends in a chunk's closing CRLF right after a body piece ending an SSE
            # event (a blank line) leaves the chunked framing at the start of a size line: no
            # framing bytes after that piece can end in LF LF CRLF (a size line ends in a hex
            # digit or an extension before its CRLF; the last chunk completes the message).
            # Read, then cleared for the next read: no None assigned before this read in this
            # function, which the compiled build would trust over what on_body stored.
            last = self._last_body
            self._last_body = None
            self.at_chunk_start = last is not None and last.endswith(b"\n\n") and data.endswith(b"\n\n\r\n")
            # The head is not complete yet: bound what it may take (checked per read, so one
            # read past the limit at most is ever held).
            if not self._head_done and len(self._head_buf) > MAX_UPSTREAM_HEAD_BYTES and self.state is _ACTIVE:
                self._fail(
                    UpstreamProtocolError(
                        f"upstream response header block exceeds {MAX_UPSTREAM_HEAD_BYTES} bytes",
                        phase="headers",
                    )
                )
        except httptools.HttpParserError as exc:
            if self.state is _ACTIVE:
                self._fail(
                    UpstreamProtocolError(
                        f"invalid HTTP response from upstream: {exc}",
                        phase="body" if self._head_done else "headers",
                        reused=self.requests > 1,
                    )
                )
            else:
                self._mark_dead()

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost does the rest

    def connection_lost(self, exc: Exception | None) -> None:
        prev = self.state
        self.state = _CLOSED
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if prev is not _ACTIVE:
            return
        resp = self._response
        if self._head_done and resp is not None:
            if resp.content_length is None and not resp.chunked and not self._skip_body:
                # Close-delimited body: EOF is the end of the message.
                self._complete(False)
                return
            self._fail(
                UpstreamProtocolError(
                    "upstream closed the connection mid-body", phase="body", reused=resp.reused
                ),
                closed=True,
            )
            return
        reused = self.requests > 1
        phase: Phase
        if self._got_bytes:
            phase = "headers"
        elif not self._request_done:
            phase = "write"
        else:
            phase = "first_byte"
        err: UpstreamError
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            err = UpstreamConnectError("connection reset by upstream", phase=phase, reused=reused)
        else:
            err = UpstreamProtocolError(
                "upstream closed the connection before responding", phase=phase, reused=reused
            )
        self._fail(err, closed=True)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------ httptools callbacks

    def _held_head(self) -> bytes:
        """The reads held since the request, as bytes (a copy only when they were several)."""
        held = self._head_buf
        return held if isinstance(held, bytes) else bytes(held)

    def on_headers_complete(self) -> None:
        if self.state is not _ACTIVE or self._head_done:
            # A second message without a request: the upstream is confused.
            self._mark_dead()
            return
        status = self._status_code()
        if status < 200:
            if status == 101:
                self._fail(
                    UpstreamProtocolError(
                        "unexpected protocol upgrade from upstream", phase="headers"
                    )
                )
                return
            self._interim = True  # 100 Continue / 103 Early Hints: wait for the real one
            self._head_pos = head_end(self._held_head(), self._head_pos)
            return
        resp = self._response
        if resp is None:
            return
        buf = self._held_head()
        start = self._head_pos
        self._head_buf = b""
        self._head_pos = 0
        # The response owns its head (and can let it go: release_head); the fields it relays
        # come serialized, the ones read here aside.
        relayed, noted, _ = forward_fields(buf, find(buf, b"\r\n", start) + 2, _NOTED, _NOT_RELAYED)
        resp.status = status
        resp.set_head(buf, start, relayed)
        resp.keep_alive = self._keeps_alive()
        for name, value in noted:
            if name == b"content-length":
                try:
                    resp.content_length = int(value)
                except ValueError:
                    self._fail(UpstreamProtocolError("invalid Content-Length from upstream"))
                    return
            elif name == b"transfer-encoding":
                resp.chunked = find(value.lower(), b"chunked") >= 0  # find: see paths.needs_normalising
            elif value not in _PLAIN_CONNECTION and value.lower() not in _PLAIN_CONNECTION:
                resp.lists_hop_headers = True  # Connection names more hop-by-hop fields
        self._head_done = True
        self._first_byte_due = _NEVER
        # The first-byte deadline is gone: the idle one may come before it, or none is left.
        if self._timeouts.idle is None and self._total_due == _NEVER:
            self._unwatch()
        else:
            self._watch()
        waiter = self._head_waiter
        self._head_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(resp)
        if self._skip_body:
            # HEAD: llhttp cannot be told to skip the body, so finish the
            # message here and give the next request a fresh parser.
            resp.content_length = resp.content_length or 0
            self._use_parser(httptools.HttpResponseParser(self))
            self._complete(resp.keep_alive)

    def on_body(self, body: bytes) -> None:
        resp = self._response
        if resp is not None and self._head_done:
            self._last_body = body
            resp._feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.state is not _ACTIVE or self._response is None:
            return
        self._complete(self._keeps_alive())

    # ------------------------------------------------------------ requests

    def send(
        self, head: bytes, body: Body, timeouts: Timeouts, *, is_head: bool, chunked: bool
    ) -> asyncio.Future[UpstreamResponse]:
        """Start one request: returns a future that resolves to the response once its
        head has arrived (or fails with the upstream error). The caller awaits it and
        calls :meth:`cancel_request` if that await is cancelled."""
        transport = self._transport
        if transport is None or self.state is _CLOSED or transport.is_closing():
            raise UpstreamConnectError(
                "upstream connection closed", phase="write", reused=self.requests > 0
            )
        loop = self._loop
        self.requests += 1
        reused = self.requests > 1
        self.state = _ACTIVE
        self._timeouts = timeouts
        self._head_buf = b""
        self._head_pos = 0
        self._head_done = False
        self._got_bytes = False
        self._skip_body = is_head
        self._interim = False
        resp = UpstreamResponse(self, reused, loop)
        self._response = resp
        waiter: asyncio.Future[UpstreamResponse] = _NEW_FUTURE(loop=loop)
        self._head_waiter = waiter
        now = self._watchdog.now()
        self._total_due = _NEVER if timeouts.total is None else now + timeouts.total
        if isinstance(body, bytes):
            if body:
                if len(body) <= 65536:
                    transport.write(head + body)
                else:
                    transport.write(head)
                    transport.write(body)
            else:
                transport.write(head)
            self._request_done = True
            fb = timeouts.first_byte
            self._first_byte_due = _NEVER if fb is None else now + fb
        else:
            self._first_byte_due = _NEVER
            self._request_done = False
            transport.write(head)
            self._body_task = loop.create_task(self._send_stream(body, chunked))
        self._watch()
        return waiter

    def cancel_request(self) -> None:
        """The caller stopped waiting (client gone): the exchange is abandoned."""
        if self.state is _ACTIVE:
            self._fail(_Abandoned())

    async def _send_stream(self, body: AsyncIterator[bytes], chunked: bool) -> None:
        transport = self._transport
        assert transport is not None
        try:
            async for chunk in body:
                if self.state is not _ACTIVE:
                    return
                if not chunk:
                    continue
                if chunked:
                    transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    transport.write(chunk)
                if self._write_paused:
                    await self._drain()
            if self.state is not _ACTIVE:
                return
            if chunked:
                transport.write(b"0\r\n\r\n")
            self._request_done = True
            if not self._head_done:
                self._arm_first_byte()
        except asyncio.CancelledError:
            if self.state is _ACTIVE:
                self._fail(_Abandoned())
            raise
        except BaseException as exc:
            # A client-side failure (413, disconnect) or a write error: the
            # upstream got half a request, so this connection is finished.
            if self.state is _ACTIVE:
                self._fail(exc)
        finally:
            self._body_task = None

    async def _drain(self) -> None:
        while self._write_paused and self.state is _ACTIVE:
            waiter = self._loop.create_future()
            self._drain_waiter = waiter
            await waiter
        if self.state is not _ACTIVE:
            raise UpstreamConnectError(
                "upstream connection lost while sending the body", phase="write"
            )

    # ------------------------------------------------------------ flow control

    def pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused and self._transport is not None:
            self._read_paused = False
            self._last_read = self._watchdog.now()
            self._transport.resume_reading()

    def hand_over_socket(self, resp: UpstreamResponse) -> int | None:
        """A duplicate of the socket for the C relay to read the rest of ``resp``'s chunked body,
        with this connection's own reading paused, or None when that is not safe: not at a chunk
        boundary, bytes still buffered, TLS, or not this connection's current response. The
        connection is never reused after (its parser stays mid-body): closing the response
        aborts it."""
        transport = self._transport
        if (
            transport is None
            or self.state is not _ACTIVE
            or self._response is not resp
            or not self.at_chunk_start
            or self._read_paused
            or not resp.chunked
            or transport.get_extra_info("sslcontext") is not None
        ):
            return None
        sock = transport.get_extra_info("socket")
        if sock is None:
            return None
        fd = os.dup(sock.fileno())
        self._last_body = None  # no more reads here: not held for the rest of the stream
        if self._request_done and not transport.get_write_buffer_size():
            self._detach(transport)
        else:  # a request body still being sent needs the transport
            self.pause_reading()
        return fd

    def _detach(self, transport: asyncio.Transport) -> None:
        """Let the transport and the parser go for the rest of a handed-over stream (~2 KB per
        open stream: uvloop's transport and handle, the parser and its bound callbacks). Closing
        the transport closes only its own descriptor: the C relay's duplicate keeps the
        connection open, and closing the response closes that (as an abort did before)."""
        self._read_paused = True  # as paused: the deadlines see the relay's reads (check_deadlines)
        self._transport = None
        self._feed = _DETACHED_FEED  # none of this connection's parser's methods keep it alive
        self._status_code = _DETACHED_STATUS
        self._keeps_alive = _DETACHED_KEEP_ALIVE
        transport.set_protocol(_DETACHED)
        transport.close()

    # ------------------------------------------------------------ endings

    def abandon(self, resp: UpstreamResponse) -> None:
        """The consumer walked away from an unfinished response: never reuse."""
        if self._response is resp and self.state is _ACTIVE:
            self._response = None
            self._fail(_Abandoned())

    def close(self) -> None:
        """Close an idle connection (pool trimming)."""
        self.state = _CLOSED
        if self._transport is not None:
            self._transport.close()

    def _complete(self, keep_alive: bool) -> None:
        resp = self._response
        self._response = None
        self._unwatch()
        if self._read_paused and self._transport is not None:
            self._read_paused = False
            self._transport.resume_reading()
        if resp is not None:
            resp._finish()
        task = self._body_task
        if task is not None:
            task.cancel()  # the upstream answered before taking the whole body
        reusable = keep_alive and self._request_done and self.state is _ACTIVE
        if reusable:
            self.state = _IDLE
            self.idle_since = self._watchdog.now()
        else:
            self.state = _CLOSED
            if self._transport is not None:
                self._transport.close()
        self._release(self, reusable)

    def _fail(self, exc: BaseException, *, closed: bool = False) -> None:
        self._unwatch()
        self.state = _CLOSED
        waiter = self._head_waiter
        self._head_waiter = None
        resp = self._response
        self._response = None
        if waiter is not None and not waiter.done():
            if not isinstance(exc, _Abandoned):
                waiter.set_exception(exc)
            else:
                waiter.cancel()
        elif resp is not None:
            resp._fail(exc)
        task = self._body_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)
        if not closed and self._transport is not None:
            self._transport.abort()
        self._release(self, False)

    def _mark_dead(self) -> None:
        self.state = _CLOSED
        if self._transport is not None:
            self._transport.abort()

    def _arm_first_byte(self) -> None:
        secs = self._timeouts.first_byte
        if secs is not None and not self._head_done:
            self._first_byte_due = self._watchdog.now() + secs
            self._watch()

    def _last_heard(self) -> float:
        native = self.native
        if native is None:
            return self._last_read
        return max(self._last_read, native.last_read)

    def _watch(self) -> None:
        """Be looked at by the watchdog at the next deadline (no-op when armed as early)."""
        when = self.next_deadline()
        if when != _NEVER:
            self.wheel_slot = self._watchdog.wheel.arm(self, self.wheel_slot, when)

    def _unwatch(self) -> None:
        armed = self.wheel_slot
        if armed:
            self.wheel_slot = 0
            self._watchdog.wheel.disarm(self, armed)

    def next_deadline(self) -> float:
        """The earliest moment a deadline of the exchange may pass (``_NEVER``: none)."""
        due = self._total_due
        if not self._head_done:
            return min(due, self._first_byte_due)
        idle = self._timeouts.idle
        return due if idle is None else min(due, self._last_heard() + idle)

    def deadline_due(self, now: float) -> None:
        """The watchdog's call: fail the exchange if a deadline passed, else look again at the next."""
        if self.state is not _ACTIVE:
            return
        self.check_deadlines(now)
        if self.state is _ACTIVE:
            when = self.next_deadline()
            if when <= now:  # silent while reading is paused: our silence, look again later
                when = now + (self._timeouts.idle or 1.0)
            if when != _NEVER:
                self.wheel_slot = self._watchdog.wheel.arm(self, self.wheel_slot, when)

    def check_deadlines(self, now: float) -> None:
        """Fail the exchange if a deadline has passed."""
        if self.state is not _ACTIVE:
            return
        reused = self.requests > 1
        t = self._timeouts
        if now >= self._total_due:
            self._fail(UpstreamTimeout("total", reused=reused, secs=t.total))
        elif not self._head_done:
            if now >= self._first_byte_due:
                self._fail(UpstreamTimeout("first_byte", reused=reused, secs=t.first_byte))
        elif (
            t.idle is not None
            and (not self._read_paused or self.native is not None)
            and now - self._last_heard() >= t.idle
        ):
            # A paused transport's silence is ours (the consumer lags), not the upstream's;
            # under the C relay the transport is paused but the relay reads.
            self._fail(UpstreamTimeout("idle", reused=reused, secs=t.idle))


class _Abandoned(Exception):
    """Internal marker: the request was cancelled or its response dropped."""
