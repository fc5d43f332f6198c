"""HTTP/1.1 server connection: httptools callbacks, pipeline, timers, limits.

One :class:`HttpProtocol` per connection; one ``HttpExchange`` per request.
llhttp validates and frames; reads are fed to it in segments that end where a
request head ends (a head's end is found before it is fed; a body's from its
framing), so ``on_headers_complete`` cuts the request line and fields out of
the head's bytes (``request_head``), builds the request and either starts its
handler task or queues it behind the exchange that is still answering
(pipelined requests are answered strictly in order).

Protocol errors (400/408/413/431/501) are rendered by ``errors.render`` and sent
only after every earlier response, then the connection closes with a short
linger so the client reads the answer instead of a reset.

Request-smuggling defences. llhttp (inside httptools 0.6+) already rejects:
Content-Length together with Transfer-Encoding, duplicate Content-Length (equal
or not), non-digit/signed Content-Length, bad or overflowing chunk sizes, chunk
data overrunning its size, obs-fold, invalid field-name characters, whitespace
before the colon, CTL/NUL/DEL in values, bare CR or LF line ends, invalid
methods and versions, and a Transfer-Encoding whose final coding is not chunked.
This module adds: HTTP/0.9 and other versions than 1.0/1.1, Transfer-Encoding in
HTTP/1.0, any coding besides a single ``chunked`` (also when split over field
lines; 501 when chunked is last, else 400), a missing or repeated Host on 1.1,
an invalid Host value, and the header/body size limits. The corpus in
``tests/corpus`` pins every one of these answers.

A client EOF counts as a disconnect (even a half-close): the handler is
cancelled, so abandoned upstream work stops at once.

Timers: one lazily re-armed ``TimerHandle`` per connection serves the header
deadline (slowloris → 408), the idle keep-alive deadline (quiet close), the
body-inactivity deadline and the closing linger; moving a deadline later is two
attribute stores, so keep-alive traffic allocates no timer per request.

Why one module: the parser callbacks, the pipeline queue and the connection's
timers all read and write the same connection state (``ConnState``, the current
and queued exchanges, the deadline kind) inside one callback; split across
modules they would need that state passed around or made public, and mypyc
compiles attribute access within one class to direct slot loads.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from enum import IntEnum
from typing import Final, cast

import httptools

from ferrogate._fastpath.bytes_search import find
from ferrogate._fastpath.clock import time
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate._fastpath.flow import PAUSE_BODY, PAUSE_PIPELINE, FlowControl
from ferrogate._fastpath.paths import PathError, needs_normalising, normalise_path
from ferrogate._fastpath.request import HttpRequest
from ferrogate._fastpath.request_head import (
    CONTENT_LENGTH,
    EXPECT,
    HOST,
    TRANSFER_ENCODING,
    request_head,
)
from ferrogate._fastpath.state import ServerState, logger
from ferrogate._fastpath.wire import CONNECTION_CLOSE, header_lines, whole_response
from ferrogate.errors import ErrorSource, GatewayError, render

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_INTERNAL_SOURCE: Final = ErrorSource.INTERNAL


class ConnState(IntEnum):
    """Where a connection is in its life; transitions are in this module only."""

    IDLE = 0  # keep-alive, no request bytes pending (idle deadline armed)
    HEAD = 1  # receiving a request line / headers (header deadline armed)
    BUSY = 2  # at least one exchange is in flight
    CLOSING = 3  # final bytes written; lingering, discarding input
    CLOSED = 4


class Deadline(IntEnum):
    """What the connection's single timer currently guards."""

    NONE = 0
    HEADER = 1
    IDLE = 2
    BODY = 3
    LINGER = 4


# Members as Final module constants, read per request: compiled, each is a C static (a
# plain module global is a dict lookup per use); interpreted, a global beats an Enum class
# attribute on 3.11 by an order of magnitude.
_IDLE: Final = ConnState.IDLE
_HEAD: Final = ConnState.HEAD
_BUSY: Final = ConnState.BUSY
_CLOSING: Final = ConnState.CLOSING
_CLOSED: Final = ConnState.CLOSED
_NO_DEADLINE: Final = Deadline.NONE
_HEADER_DEADLINE: Final = Deadline.HEADER
_IDLE_DEADLINE: Final = Deadline.IDLE
_BODY_DEADLINE: Final = Deadline.BODY
_LINGER_DEADLINE: Final = Deadline.LINGER

# How the bytes after a request head are framed, so where the next head can begin. The
# connection feeds llhttp in segments that end where a head ends (see data_received).
_HEADS: Final = 0  # between requests or inside a head
_LENGTH: Final = 1  # inside a Content-Length body (_body_left bytes to go)
_CHUNKED: Final = 2  # inside a chunked body, which can end only where a CRLF CRLF ends
# CRLF CRLF pairs inside chunked bodies fed apart per read, at most: a body stuffed with them
# would otherwise cost a feed every two bytes. Past it, the read's rest is fed whole, and if a
# chunked request ends inside it the connection closes after that request's response.
_MAX_CHUNKED_STEPS: Final = 32
# A segment up to this size is fed as a copy (a bytes slice: about 200 instructions); a longer
# one as a view of the read (about 1,500 instructions, whatever its size).
_COPIED_SEGMENT: Final = 8192
_CR: Final = 13
_LF: Final = 10

# Characters that cannot appear in a Host value (uri-host [":" port]): whitespace, path,
# userinfo and backslash (a classic parser-confusion vector).
_BAD_HOST: Final = re.compile(rb"[\s/\\@?#]")
# A future made by its class, given its loop: uvloop's loop.create_future() makes one through
# two more call layers (1,400 instructions in all). Not without the loop: asyncio then looks
# the running loop up, and on 3.11 that costs a getpid() system call.
_NEW_FUTURE: Final = asyncio.Future
# The name of every exchange's task (what asyncio's debug output and task dumps show).
EXCHANGE_TASK_NAME: Final = "ferrogate-exchange"


class _Abort(Exception):
    """Raised inside a parser callback to stop httptools; the reason is on the protocol."""


def _internal_error() -> GatewayError:
    return GatewayError(500, "internal server error", code="internal_error", source=_INTERNAL_SOURCE)


def _transfer_coding_error(value: bytes) -> GatewayError:
    """Why a Transfer-Encoding other than exactly ``chunked`` is refused (RFC 9112 §6.1, §6.3)."""
    codings = [c.strip() for c in value.lower().split(b",")]
    if codings[-1] != b"chunked" or codings.count(b"chunked") != 1:
        # Body length cannot be determined: 400 and close.
        return GatewayError(400, "chunked must be the final transfer coding, once", code="bad_framing")
    return GatewayError(501, "only the chunked transfer coding is supported", code="unsupported_transfer_encoding")


def _blank_line_end(before: bytes, data: bytes, pos: int) -> int:
    """Where the first CRLF CRLF that ends after ``pos`` ends in ``data``, counting one begun in
    ``before`` (the last bytes of the read before, when ``pos`` is 0); -1 when none does. A
    segment ended where no head or body ends costs one more feed; one missed would misplace
    the next head, so ``before`` may hold bytes that were not body (the chunked head's end)."""
    if before:
        probe = before + data[:3]
        at = find(probe, b"\r\n\r\n")
        while at >= 0:
            if at + 4 > len(before):
                return at + 4 - len(before)
            at = find(probe, b"\r\n\r\n", at + 1)
    at = find(data, b"\r\n\r\n", pos - 3 if pos > 3 else 0)
    while at >= 0 and at + 4 <= pos:  # one that ended where the search starts
        at = find(data, b"\r\n\r\n", at + 1)
    return -1 if at < 0 else at + 4


class HttpProtocol(asyncio.Protocol):
    """One client connection: parser, pipeline of exchanges, deadlines, flow control."""

    __slots__ = (
        "_abort_error",
        "_body_left",
        "_body_mode",
        "_chunk_tail",
        "_client",
        "_deadline",
        "_deadline_kind",
        "_feed",
        "_framing_lost",
        "_handoff",
        "_head_buf",
        "_head_end",
        "_head_keep_alive",
        "_head_start",
        "_held",
        "_next",
        "_parser",
        "_pending_error",
        "_queue",
        "_received",
        "_runner",
        "_running",
        "_stop_parsing",
        "_transport",
        "_write_timer",
        "conn_state",
        "current",
        "draining",
        "flow",
        "parsing",
        "state",
        "wheel_slot",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.conn_state = _IDLE
        self.current: HttpExchange | None = None  # the exchange allowed to write
        self.parsing: HttpExchange | None = None  # the exchange whose body is arriving
        # Requests pipelined behind the current one; made on the first (most connections never pipeline).
        self._queue: deque[HttpExchange] | None = None
        self.draining = False
        self._parser = httptools.HttpRequestParser(self)
        # Bound once: a Cython object's method called by name costs a lookup on every read.
        self._feed = self._parser.feed_data
        self._head_keep_alive = True  # the last head's should_keep_alive(), for its message's end
        self._pending_error: GatewayError | None = None
        self._abort_error: GatewayError | None = None
        self._stop_parsing = False
        self.wheel_slot = 0  # armed in the server's deadline wheel (0: not)
        self._write_timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._deadline_kind = _NO_DEADLINE
        self._client: tuple[str, int] | None = None
        # A head's bytes from its first, while it spans reads (non-empty: a head has begun and not ended).
        self._held: bytes | bytearray = b""
        # The head that ends the segment being fed: its buffer, where it starts and ends there.
        self._head_buf = b""
        self._head_start = 0
        self._head_end = 0
        self._body_mode = _HEADS  # how the bytes after the last head are framed
        self._body_left = 0  # _LENGTH: body bytes still to come
        self._chunk_tail = b""  # _CHUNKED: the last read's last 3 bytes (a CRLF CRLF can straddle reads)
        self._framing_lost = False  # the segment being fed may end a chunked body anywhere in it
        self._received = False  # any request bytes yet (see shutdown)
        # The connection's task runs its exchanges one after another (see _serve).
        self._runner: asyncio.Task[None] | None = None
        self._running: HttpExchange | None = None  # the exchange whose handler it is in
        self._next: HttpExchange | None = None  # started while it finished the one before
        self._handoff: asyncio.Future[HttpExchange | None] | None = None  # it waits for the next

    # ------------------------------------------------------------ asyncio side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self._transport = tcp
        self.flow = FlowControl(tcp, self.state.loop)
        peer = tcp.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        self.state.connections.add(self)
        self.conn_state = _HEAD
        self._set_deadline(_HEADER_DEADLINE, self.state.header_timeout)
        if self.state.shutting_down:
            self.draining = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn_state = _CLOSED
        self._cancel_write_timer()
        self._deadline_kind = _NO_DEADLINE
        armed = self.wheel_slot
        if armed:
            self.wheel_slot = 0
            self.state.wheel.disarm(self, armed)
        self.flow.resume_writing()
        current = self.current
        if current is not None:
            self.current = None
            current.disconnected = True
            if not current.complete:
                self.state.inflight -= 1
                counts = self.state.responses
                status = current.status or 499
                counts[status] = counts.get(status, 0) + 1
                access_log = self.state.access_log
                if access_log is not None:
                    access_log.record(current, time(), self.state.now() - current.received_at)
                if current is self._running:
                    assert self._runner is not None
                    self._runner.cancel()
                elif current is self._next:
                    self._next = None  # its handler never began
        parsing = self.parsing
        if parsing is not None:
            parsing.disconnected = True
            parsing.fail_body(GatewayError(400, "client disconnected", code="client_disconnected"))
        self._queue = None
        waiter = self._handoff
        if waiter is not None:  # the idle runner ends
            self._handoff = None
            waiter.set_result(None)
        self.state.connection_closed(self)

    def pause_writing(self) -> None:
        self.flow.pause_writing()
        # Armed once per stall, not per write: a client that takes nothing for the whole
        # write timeout is cut off, so it cannot hold its buffers and an upstream forever.
        timeout = self.state.write_timeout
        if timeout > 0 and self._write_timer is None:
            self._write_timer = self.state.loop.call_later(timeout, self._write_stalled)

    def resume_writing(self) -> None:
        self._cancel_write_timer()
        self.flow.resume_writing()

    def _cancel_write_timer(self) -> None:
        timer = self._write_timer
        if timer is not None:
            self._write_timer = None
            timer.cancel()

    def _write_stalled(self) -> None:
        self._write_timer = None
        transport = self._transport
        if transport is not None and not transport.is_closing():
            logger.info("closing a connection whose client read nothing for %.0f s", self.state.write_timeout)
            transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._stop_parsing:
            return  # closing: discard what the client still sends
        self._received = True
        size = len(data)
        pos = 0
        steps = 0
        view: memoryview | None = None
        feed = self._feed
        try:
            # llhttp parses a stream, so feeding a read in pieces changes nothing it decides;
            # the pieces end where a head ends, so on_headers_complete knows the head's bytes.
            while pos < size and not self._stop_parsing:
                mode = self._body_mode
                if mode == _LENGTH:
                    end = pos + self._body_left
                    if end > size:
                        end = size
                    self._body_left -= end - pos
                elif mode == _CHUNKED:
                    steps += 1
                    if steps > _MAX_CHUNKED_STEPS:
                        self._framing_lost = True
                        end = size
                    else:
                        end = self._chunked_segment_end(data, pos)
                else:
                    end = self._head_segment_end(data, pos)
                if pos == 0 and end == size:
                    feed(data)
                elif end - pos <= _COPIED_SEGMENT:
                    feed(data[pos:end])
                else:
                    if view is None:
                        view = memoryview(data)
                    feed(view[pos:end])
                self._framing_lost = False
                pos = end
        except httptools.HttpParserUpgrade:
            self._on_upgrade()
            return
        except httptools.HttpParserError as exc:
            self._on_parse_error(exc)
            return
        finally:
            self._head_buf = b""  # hold no read buffer between reads
        if self._body_mode == _CHUNKED:
            self._chunk_tail = data[-3:] if size >= 3 else (self._chunk_tail + data)[-3:]
        if self._held and not self._stop_parsing:
            self._check_partial_head()

    def _head_segment_end(self, data: bytes, pos: int) -> int:
        """Where to stop feeding so that a head beginning at ``pos`` ends the feed: the end of
        its blank line, or the read's end when the head goes on (its bytes are held)."""
        size = len(data)
        held = self._held
        if not held:
            start = pos
            while start < size and (data[start] == _CR or data[start] == _LF):
                start += 1  # empty lines before a request line, which llhttp skips
            if start == size:
                return size
            blank = find(data, b"\r\n\r\n", start)
            if blank < 0:
                self._held = data[start:]
                self.conn_state = _HEAD
                return size
            self._head_buf = data
            self._head_start = start
            self._head_end = blank + 4
            return blank + 4
        # The head began in an earlier read (this read starts the segment).
        seen = len(held)
        end = _blank_line_end(bytes(held[-3:]), data, 0)
        buf = held if isinstance(held, bytearray) else bytearray(held)  # grown in place, not copied per read
        if end < 0:
            buf += data
            self._held = buf
            return size
        buf += data[:end]
        self._held = b""
        self._head_buf = bytes(buf)
        self._head_start = 0
        self._head_end = seen + end
        return end

    def _chunked_segment_end(self, data: bytes, pos: int) -> int:
        """Where to stop feeding a chunked body from ``pos``: the next end of a CRLF CRLF, as a
        chunked body's last bytes are its last chunk's line or a trailer line and then the
        blank line (so when it ends, it ends a feed); the read's end if there is none."""
        end = _blank_line_end(self._chunk_tail if pos == 0 else b"", data, pos)
        return len(data) if end < 0 else end

    def _check_partial_head(self) -> None:
        """A request head is still incomplete after this read: bound its size and its time."""
        if len(self._held) > self.state.max_header:
            self._protocol_error(GatewayError(431, "request header block too large", code="headers_too_large"))
            return
        if self._deadline_kind != _HEADER_DEADLINE:
            self._set_deadline(_HEADER_DEADLINE, self.state.header_timeout)

    # ---------------------------------------------------- parser callbacks
    # llhttp validates and frames; the head's bytes are read once, in on_headers_complete.
    # (No on_url or on_header: request_head cuts the line and the fields out of the head.)

    def on_headers_complete(self) -> None:
        state = self.state
        buf = self._head_buf
        start = self._head_start
        head_size = self._head_end - start
        self._head_buf = b""
        if self._stop_parsing:
            return  # a request after a non-persistent one, in the same read: ignored
        if not buf:
            # Every head ends a segment (data_received); anything else is a bug here.
            logger.error("request head completed outside its segment")
            self._abort(_internal_error())
        head = buf if start == 0 and head_size == len(buf) else buf[start : start + head_size]
        method, url, version_token, fields_at, specials = request_head(head, 0)
        host_count = 0
        content_length_value: bytes | None = None
        transfer_encoding: bytes | None = None
        expect_continue = False
        for kind, value in specials:
            if kind == HOST:
                host_count += 1
                # A regex search costs more than the rest of this loop; clients repeat
                # their Host, so the last value that passed is remembered.
                if value != state.host_ok:
                    if _BAD_HOST.search(value) is not None:
                        self._abort(GatewayError(400, "invalid Host header", code="bad_host"))
                    state.host_ok = value
            elif kind == CONTENT_LENGTH:
                content_length_value = value
            elif kind == TRANSFER_ENCODING:
                # Several field lines form one list (RFC 9110 §5.3); the last coding decides.
                transfer_encoding = value if transfer_encoding is None else transfer_encoding + b", " + value
            elif kind == EXPECT and value.lower() == b"100-continue":
                expect_continue = True
        if head_size > state.max_header:
            self._abort(GatewayError(431, "request header block too large", code="headers_too_large"))
        parser = self._parser
        if version_token == b"HTTP/1.1":
            version = "1.1"
        elif version_token == b"HTTP/1.0":
            version = "1.0"
        else:
            version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            self._abort(GatewayError(400, "unsupported HTTP version", code="bad_http_version"))
        if host_count != 1 and (host_count > 1 or version == "1.1"):
            self._abort(GatewayError(400, "exactly one Host header is required", code="bad_host"))
        chunked = False
        content_length: int | None = None
        if transfer_encoding is not None:
            if version == "1.0":
                self._abort(GatewayError(400, "Transfer-Encoding in an HTTP/1.0 request", code="bad_framing"))
            if transfer_encoding.strip().lower() != b"chunked":
                self._abort(_transfer_coding_error(transfer_encoding))
            chunked = True
        elif content_length_value is not None:
            content_length = int(content_length_value)
            if content_length > state.max_body:
                self._abort(GatewayError(413, "request body too large", code="body_too_large"))
        self._head_keep_alive = head_keep_alive = parser.should_keep_alive()
        keep_alive = head_keep_alive and not self.draining
        request = HttpRequest(
            method,
            url,
            None,  # read from the head when asked
            version,
            keep_alive,
            self._client,
            content_length,
            chunked,
            head,
            fields_at,
        )
        if request.absolute_form or needs_normalising(request.path):
            self._canonical_target(request, state.keep_encoded_slash)
        has_body = chunked or (content_length is not None and content_length > 0)
        exchange = HttpExchange(
            self,
            self._transport,
            request,
            state.now(),
            expect_continue and has_body and version == "1.1",
            not has_body,
        )
        self.conn_state = _BUSY
        self._deadline_kind = _NO_DEADLINE
        if has_body:
            self.parsing = exchange
            if chunked:
                self._body_mode = _CHUNKED
                self._chunk_tail = b""
            else:
                self._body_mode = _LENGTH
                self._body_left = content_length or 0
        if self.current is None:
            self._start(exchange)
        else:
            queue = self._queue
            if queue is None:
                queue = self._queue = deque()
            queue.append(exchange)
            if len(queue) >= state.max_pipelined:
                self.flow.pause_reading(PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        if exchange is not None and not exchange.feed_body(body):
            self._abort(GatewayError(413, "request body too large", code="body_too_large"))

    def on_message_complete(self) -> None:
        self._body_mode = _HEADS
        exchange = self.parsing
        if exchange is not None:
            self.parsing = None
            if self._framing_lost:
                # A chunked body ended somewhere in a segment fed whole: where the next
                # request starts is not known, so nothing after this one is read.
                exchange.keep_alive = False
            exchange.finish_body()
            self.flow.resume_reading(PAUSE_BODY)
            keep_alive = exchange.keep_alive
        else:
            keep_alive = self._head_keep_alive and not self.draining
        if not keep_alive:
            # Nothing after a non-persistent request is served (RFC 9112 §9.6): later reads
            # are discarded (reading goes on so a disconnect still cancels the handler), and
            # what is left of this read is parsed into nothing (no exception needed).
            self._stop_parsing = True

    # ------------------------------------------------------- errors / upgrade

    def _canonical_target(self, request: HttpRequest, keep_encoded_slash: bool) -> None:
        """Normalise the path (see ``paths``) and forward origin-form: everything after this
        matches and forwards ``request.path`` / ``request.target`` as rewritten here."""
        path = request.path
        if path[:1] == b"/":
            try:
                path = normalise_path(path, keep_encoded_slash=keep_encoded_slash)
            except PathError as exc:
                self._abort(GatewayError(400, str(exc), code="bad_path"))
        request.set_origin_form(path)

    def _abort(self, err: GatewayError) -> None:
        """Stop httptools from inside a callback (error paths only)."""
        self._abort_error = err
        raise _Abort

    def _on_parse_error(self, exc: httptools.HttpParserError) -> None:
        err = self._abort_error
        self._abort_error = None
        if err is None:
            if self._stop_parsing:
                return  # bytes after a non-persistent request: ignored
            if isinstance(exc, httptools.HttpParserCallbackError):
                logger.error("parser callback failed", exc_info=exc)
                err = _internal_error()
            else:
                err = GatewayError(400, f"malformed request: {exc}", code="malformed_request")
        self._protocol_error(err)

    def _on_upgrade(self) -> None:
        """Upgrade/CONNECT: answered as a plain request, then the connection closes."""
        self._stop_parsing = True
        for exchange in (self.current, *(self._queue or ())):
            if exchange is not None:
                exchange.keep_alive = False
        if self.parsing is not None:
            self.parsing.fail_body(GatewayError(400, "request body not supported with Upgrade", code="bad_framing"))

    def _protocol_error(self, err: GatewayError) -> None:
        """Stop parsing; answer ``err`` after every earlier response, then close."""
        self._stop_parsing = True
        parsing = self.parsing
        if parsing is not None and not parsing.body_done:
            # The error belongs to a request whose handler reads (or will read) the body.
            parsing.fail_body(err)
            self.parsing = None
            return
        self._pending_error = err
        if self.current is None:
            self._send_pending_error()

    def _send_pending_error(self) -> None:
        err = self._pending_error
        if err is None or self.conn_state >= _CLOSING:
            return
        self._pending_error = None
        status, headers, body = render(err)
        counts = self.state.protocol_errors
        counts[status] = counts.get(status, 0) + 1
        lines, _ = header_lines(headers)
        self._transport.write(
            whole_response(status, self.state.date.block, CONNECTION_CLOSE, b"content-length: %d\r\n" % len(body), lines, body)
        )
        self._close(linger=True)

    # ------------------------------------------------------------ exchanges

    def _start(self, exchange: HttpExchange) -> None:
        self.current = exchange
        state = self.state
        state.inflight += 1
        waiter = self._handoff
        if waiter is not None:
            self._handoff = None
            self._running = exchange  # a disconnect before the runner wakes cancels it
            waiter.set_result(exchange)
        elif self._runner is not None:  # still in the last handler, after its response
            self._next = exchange
        else:
            # A Task made directly: the loop's create_task would let the Task format a
            # "Task-N" name (about 1,500 instructions) and add a call layer.
            runner = asyncio.Task(self._serve(exchange), loop=state.loop, name=EXCHANGE_TASK_NAME)
            self._runner = runner
            self._running = exchange
            # Shutdown waits for work that outlives its response. Discarded when done, not at
            # the end of _serve: a task cancelled before its first step never runs its finally.
            state.tasks.add(runner)
            runner.add_done_callback(state.tasks.discard)

    async def _serve(self, exchange: HttpExchange | None) -> None:
        """The connection's task: its exchanges' handlers one after another, then a wait for
        the next. A task per exchange cost about 6,000 instructions (a Task is made, named,
        registered in asyncio's WeakSet of tasks by Python code, and freed); waking a waiting
        one costs a future. It ends when the connection closes (shutdown waits for it)."""
        try:
            while exchange is not None:
                self._running = exchange
                try:
                    await self.state.handler(exchange)
                except asyncio.CancelledError:
                    if not exchange.disconnected and not exchange.complete:
                        self._close(linger=False)  # cancelled from outside (shutdown abort)
                    raise
                except GatewayError as err:
                    self._fail(exchange, err)
                except Exception:
                    logger.exception("handler failed for %r", exchange.request)
                    self._fail(exchange, _internal_error())
                else:
                    if not exchange.complete and not exchange.disconnected:
                        self._unfinished(exchange)
                self._running = None
                exchange = self._next
                if exchange is not None:
                    self._next = None
                elif self.conn_state < _CLOSING:
                    waiter: asyncio.Future[HttpExchange | None] = _NEW_FUTURE(loop=self.state.loop)
                    self._handoff = waiter
                    exchange = await waiter
        finally:
            self._running = None
            self._handoff = None
            self._runner = None

    def _unfinished(self, exchange: HttpExchange) -> None:
        """A handler returned without ending its response."""
        if exchange.started:
            logger.error("handler returned without ending the response for %r", exchange.request)
            self._close(linger=False)
        else:
            logger.error("handler returned without responding to %r", exchange.request)
            self._fail(exchange, _internal_error())

    def _fail(self, exchange: HttpExchange, err: GatewayError) -> None:
        if exchange.disconnected or exchange.complete:
            return
        if exchange.started:
            # The client has seen a status line: the only honest signal left is closing.
            self._close(linger=False)
            return
        exchange.fail(err)

    def response_complete(self, exchange: HttpExchange) -> None:
        """Called by the exchange once its last byte is written."""
        state = self.state
        state.inflight -= 1
        counts = state.responses
        status = exchange.status
        counts[status] = counts.get(status, 0) + 1
        access_log = self.state.access_log
        if access_log is not None:
            access_log.record(exchange, time(), self.state.now() - exchange.received_at)
        self.current = None
        if not exchange.keep_alive or not exchange.body_intact or self.draining:
            self._close(linger=not exchange.body_intact)
            return
        queue = self._queue
        if queue:
            nxt = queue.popleft()
            if len(queue) < self.state.max_pipelined:
                self.flow.resume_reading(PAUSE_PIPELINE)
            self._start(nxt)
        elif self._pending_error is not None:
            self._send_pending_error()
        elif self.parsing is None and not self._held:
            self.conn_state = _IDLE
            self._set_deadline(_IDLE_DEADLINE, self.state.idle_timeout)

    # ---------------------------------------------------------- body waits

    def body_wait_started(self) -> None:
        self._set_deadline(_BODY_DEADLINE, self.state.body_timeout)

    def body_wait_ended(self) -> None:
        if self._deadline_kind == _BODY_DEADLINE:
            self._deadline_kind = _NO_DEADLINE

    # ----------------------------------------------------------- deadlines

    def _set_deadline(self, kind: Deadline, delay: float) -> None:
        state = self.state
        when = state.now() + delay
        self._deadline_kind = kind
        self._deadline = when
        # Armed already for an earlier moment: it looks at the deadline again then.
        self.wheel_slot = state.wheel.arm(self, self.wheel_slot, when)

    def deadline_due(self, now: float) -> None:
        """The deadline wheel's call: act on the deadline if it has passed, else re-arm."""
        kind = self._deadline_kind
        if kind == _NO_DEADLINE or self.conn_state == _CLOSED:
            return
        if now < self._deadline:
            self.wheel_slot = self.state.wheel.arm(self, self.wheel_slot, self._deadline)
            return
        self._deadline_kind = _NO_DEADLINE
        if kind == _IDLE_DEADLINE:
            self._close(linger=False)
        elif kind == _HEADER_DEADLINE:
            self._protocol_error(GatewayError(408, "timed out waiting for the request headers", code="request_timeout"))
        elif kind == _BODY_DEADLINE:
            self._protocol_error(GatewayError(408, "timed out waiting for the request body", code="request_timeout"))
        else:
            if self.current is not None:
                self.current.flush()
            self._transport.close()

    # ------------------------------------------------------------- closing

    def _close(self, *, linger: bool) -> None:
        if self.conn_state >= _CLOSING:
            return
        self.conn_state = _CLOSING
        self._stop_parsing = True
        if self.current is not None:
            self.current.flush()  # corked response bytes go out before the close
        transport = self._transport
        if linger and transport.can_write_eof():
            # Half-close and keep reading (discarding) for a moment, so a client still
            # sending its body reads our answer instead of a connection reset.
            transport.write_eof()
            self.flow.resume_reading(PAUSE_BODY | PAUSE_PIPELINE)
            self._set_deadline(_LINGER_DEADLINE, self.state.linger_secs)
        else:
            transport.close()

    def shutdown(self) -> None:
        """Graceful stop: idle keep-alive connections close now; busy ones close after
        their response. A connection that has not sent its first request yet is kept: it
        was accepted before the listener closed, so its client is about to send a request
        that nobody else can answer; it closes after that response (or at the grace
        deadline, or its header timeout)."""
        self.draining = True
        if self.conn_state >= _CLOSING:
            return
        if self.current is None and self.parsing is None and not self._queue:
            if self._received:
                self._close(linger=False)
            return
        self._queue = None

    def abort(self) -> None:
        """Grace period over: cancel the handler and drop the connection."""
        if self._runner is not None:
            self._runner.cancel()
        if self.conn_state != _CLOSED:
            self._transport.abort()
