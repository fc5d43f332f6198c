"""HttpProtocol behaviour, specified by raw bytes in and h11-parsed bytes out (MockTransport)."""

from __future__ import annotations

import asyncio

import pytest

from ferrogate._fastpath.api import Exchange
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate._fastpath.http1 import ConnState
from ferrogate.config.model import Limits
from ferrogate.errors import GatewayError
from tests.fastpath.conftest import make_conn, parse_responses, respond_ok

pytestmark = pytest.mark.anyio

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def get(path: str = "/", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: a\r\n{extra}\r\n".encode()


def post(body: bytes, path: str = "/", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


# --------------------------------------------------------------------------- basics


async def test_get_is_answered_with_date_server_and_length() -> None:
    conn = make_conn(respond_ok)
    conn.feed(GET)
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["GET"], eof=False)
    assert resp.status == 200
    assert resp.body == b"ok"
    assert resp.headers[b"content-length"] == b"2"
    assert resp.headers[b"server"] == b"ferrogate"
    assert resp.headers[b"date"].endswith(b" GMT")
    assert b"connection" not in resp.headers
    assert not conn.transport.closed


async def test_request_fields_are_exposed_to_the_handler() -> None:
    seen: list[Exchange] = []

    async def handler(exchange: Exchange) -> None:
        seen.append(exchange)
        await respond_ok(exchange)

    conn = make_conn(handler)
    conn.feed(b"GET /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nX-Thing: V\r\n\r\n")
    await conn.settle()
    (exchange,) = seen
    req = exchange.request
    assert (req.method, req.target, req.path, req.query) == (b"GET", b"/v1/x?a=1", b"/v1/x", b"a=1")
    assert req.headers == [(b"host", b"h"), (b"x-thing", b"V")]
    assert req.header(b"x-thing") == b"V" and req.header(b"absent") is None
    assert req.http_version == "1.1" and req.keep_alive
    assert req.client == ("127.0.0.1", 50000)
    assert isinstance(exchange, HttpExchange)
    assert exchange.received_at <= asyncio.get_running_loop().time()


async def test_keep_alive_connection_serves_several_requests() -> None:
    conn = make_conn(respond_ok)
    for _ in range(3):
        conn.feed(GET)
        await conn.settle()
    assert [r.status for r in parse_responses(conn.transport.take(), ["GET"] * 3, eof=False)] == [200] * 3
    assert not conn.transport.closed
    assert conn.protocol.conn_state == ConnState.IDLE


async def test_an_invalid_host_after_a_valid_one_on_the_same_connection_is_still_refused() -> None:
    # The server remembers the last Host value that passed; a different one is checked again.
    conn = make_conn(respond_ok)
    conn.feed(GET)
    await conn.settle()
    conn.feed(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")
    await conn.settle()
    first, second = parse_responses(conn.transport.take(), ["GET", "GET"])
    assert (first.status, second.status) == (200, 400)
    assert b"bad_host" in second.body


async def test_connection_close_request_gets_close_and_the_connection_ends() -> None:
    conn = make_conn(respond_ok)
    conn.feed(get(extra="Connection: close\r\n"))
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["GET"])
    assert resp.headers[b"connection"] == b"close"
    assert conn.transport.closed


async def test_http10_closes_unless_keep_alive_was_asked_for() -> None:
    conn = make_conn(respond_ok)
    conn.feed(b"GET / HTTP/1.0\r\n\r\n")
    await conn.settle()
    assert b"connection: close\r\n" in conn.transport.take()
    assert conn.transport.closed

    conn = make_conn(respond_ok)
    conn.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    await conn.settle()
    assert b"connection: keep-alive\r\n" in conn.transport.take()
    assert not conn.transport.closed


async def test_bytes_after_a_connection_close_request_are_not_parsed() -> None:
    calls: list[bytes] = []

    async def handler(exchange: Exchange) -> None:
        calls.append(exchange.request.path)
        await respond_ok(exchange)

    conn = make_conn(handler)
    conn.feed(get("/1", "Connection: close\r\n") + get("/2"))
    await conn.settle()
    assert calls == [b"/1"]


# --------------------------------------------------------------------------- pipelining


async def test_pipelined_requests_are_answered_in_order_even_if_the_first_is_slow() -> None:
    release = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        if exchange.request.path == b"/slow":
            await release.wait()
        exchange.respond(200, [], exchange.request.path)

    conn = make_conn(handler)
    conn.feed(get("/slow") + get("/fast1") + get("/fast2"))
    await conn.settle()
    assert conn.transport.take() == b""  # nothing may overtake the slow first answer
    release.set()
    await conn.settle()
    bodies = [r.body for r in parse_responses(conn.transport.take(), ["GET"] * 3, eof=False)]
    assert bodies == [b"/slow", b"/fast1", b"/fast2"]


async def test_too_many_queued_requests_pause_reading_until_the_queue_drains() -> None:
    release = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await release.wait()
        await respond_ok(exchange)

    conn = make_conn(handler, Limits(max_pipelined_requests=2))
    conn.feed(GET * 3)  # one running, two queued
    await conn.settle()
    assert conn.transport.read_paused
    release.set()
    await conn.settle()
    assert not conn.transport.read_paused
    assert len(parse_responses(conn.transport.take(), ["GET"] * 3, eof=False)) == 3


async def test_an_error_after_pipelined_requests_is_sent_after_their_answers() -> None:
    release = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await release.wait()
        await respond_ok(exchange)

    conn = make_conn(handler)
    conn.feed(GET + b"BAD\x01 / HTTP/1.1\r\n\r\n")
    await conn.settle()
    assert conn.transport.take() == b""
    release.set()
    await conn.settle()
    assert [r.status for r in parse_responses(conn.transport.take(), ["GET", "GET"])] == [200, 400]


# --------------------------------------------------------------------------- request bodies


async def test_read_body_returns_a_content_length_body() -> None:
    async def echo(exchange: Exchange) -> None:
        exchange.respond(200, [], await exchange.read_body())

    conn = make_conn(echo)
    conn.feed(post(b"hello")[:-2])
    await conn.settle()
    conn.feed(b"lo")
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["POST"], eof=False)
    assert resp.body == b"hello"


async def test_body_chunks_yields_a_chunked_body_as_it_arrives() -> None:
    pieces: list[bytes] = []
    got_first = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        async for piece in exchange.body_chunks():
            pieces.append(piece)
            got_first.set()
        await respond_ok(exchange)

    conn = make_conn(handler)
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    await asyncio.wait_for(got_first.wait(), 2)
    assert pieces == [b"abc"]
    conn.feed(b"2\r\nde\r\n0\r\n\r\n")
    await conn.settle()
    assert pieces == [b"abc", b"de"]
    assert parse_responses(conn.transport.take(), ["POST"], eof=False)[0].status == 200


async def test_a_body_nobody_reads_pauses_reading_at_the_high_water_mark() -> None:
    release = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await release.wait()
        total = 0
        async for piece in exchange.body_chunks():
            total += len(piece)
        exchange.respond(200, [], str(total).encode())

    conn = make_conn(handler)
    size = 1024 * 1024
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
    for _ in range(4):
        conn.feed(b"x" * (32 * 1024))
    await conn.settle()
    assert conn.transport.read_paused
    release.set()
    await conn.settle()
    assert not conn.transport.read_paused
    for _ in range(size // (32 * 1024) - 4):
        conn.feed(b"x" * (32 * 1024))
        await conn.settle(2)
    await conn.settle()
    assert parse_responses(conn.transport.take(), ["POST"], eof=False)[0].body == str(size).encode()


async def test_read_body_resumes_a_connection_paused_before_it_was_called() -> None:
    release = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await release.wait()
        exchange.respond(200, [], b"%d" % len(await exchange.read_body()))

    conn = make_conn(handler)
    size = 256 * 1024
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
    conn.feed(b"x" * (128 * 1024))
    await conn.settle()
    assert conn.transport.read_paused
    release.set()
    await conn.settle()
    assert not conn.transport.read_paused
    conn.feed(b"x" * (128 * 1024))
    await conn.settle()
    assert parse_responses(conn.transport.take(), ["POST"], eof=False)[0].body == b"%d" % size


async def test_chunked_body_over_the_limit_is_413_and_close() -> None:
    async def echo(exchange: Exchange) -> None:
        exchange.respond(200, [], await exchange.read_body())

    conn = make_conn(echo, Limits(max_body_bytes=10))
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n")
    await conn.settle()
    conn.feed(b"8\r\n12345678\r\n0\r\n\r\n")
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["POST"])
    assert resp.status == 413
    assert conn.transport.eof_written  # lingering close: the client can still finish sending


async def test_content_length_over_the_limit_is_413_without_calling_the_handler() -> None:
    calls = 0

    async def handler(exchange: Exchange) -> None:
        nonlocal calls
        calls += 1
        await respond_ok(exchange)

    conn = make_conn(handler, Limits(max_body_bytes=10))
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
    await conn.settle()
    out = conn.transport.take()
    assert not out.startswith(b"HTTP/1.1 100")
    assert parse_responses(out, ["POST"])[0].status == 413
    assert calls == 0


async def test_trailers_are_not_added_to_the_request_headers() -> None:
    seen: list[list[tuple[bytes, bytes]]] = []

    async def handler(exchange: Exchange) -> None:
        await exchange.read_body()
        seen.append(list(exchange.request.headers))
        await respond_ok(exchange)

    conn = make_conn(handler)
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n")
    await conn.settle()
    assert seen == [[(b"host", b"a"), (b"transfer-encoding", b"chunked")]]


# --------------------------------------------------------------------------- 100-continue


async def test_100_continue_is_sent_only_when_the_handler_reads_the_body() -> None:
    may_read = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await may_read.wait()
        exchange.respond(200, [], await exchange.read_body())

    conn = make_conn(handler)
    conn.feed(post(b"", extra="Expect: 100-continue\r\n").replace(b"Length: 0", b"Length: 3"))
    await conn.settle()
    assert conn.transport.take() == b""
    may_read.set()
    await conn.settle()
    assert conn.transport.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.feed(b"abc")
    await conn.settle()
    assert parse_responses(conn.transport.take(), ["POST"], eof=False)[0].body == b"abc"


async def test_100_continue_is_not_sent_when_the_handler_answers_without_reading() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.respond(401, [], b"no")

    conn = make_conn(handler)
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    await conn.settle()
    out = conn.transport.take()
    assert out.startswith(b"HTTP/1.1 401 ")
    assert b"connection: close" in out  # the unread body makes the connection unusable
    assert conn.transport.eof_written


# --------------------------------------------------------------------------- responses


async def test_head_keeps_content_length_but_sends_no_body() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.respond(200, [], b"twelve bytes")

    conn = make_conn(handler)
    conn.feed(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    await conn.settle()
    out = conn.transport.take()
    assert out.endswith(b"\r\n\r\n")
    assert b"content-length: 12\r\n" in out
    assert parse_responses(out, ["HEAD"], eof=False)[0].body == b""


async def test_streamed_head_response_writes_no_body_bytes() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [], 5)
        exchange.write(b"hello")
        exchange.end()

    conn = make_conn(handler)
    conn.feed(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    await conn.settle()
    assert conn.transport.take().endswith(b"content-length: 5\r\n\r\n")


async def test_streaming_without_length_is_chunked_on_http11() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [(b"content-type", b"text/plain")])
        exchange.write(b"one,")
        exchange.write(b"")  # an empty write must not end the body
        exchange.write(b"two")
        await exchange.drain()
        exchange.end()

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    out = conn.transport.take()
    assert b"transfer-encoding: chunked\r\n" in out
    assert parse_responses(out, ["GET"], eof=False)[0].body == b"one,two"
    assert not conn.transport.closed


async def test_a_short_stream_written_in_one_loop_turn_leaves_in_one_transport_write() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [(b"content-type", b"text/event-stream")])
        exchange.write(b"data: 1\n\n")
        await exchange.drain()
        exchange.write(b"data: 2\n\n")
        exchange.end()

    conn = make_conn(handler)
    writes: list[bytes] = []  # one entry per call into the transport (writelines is one writev)
    record = conn.transport.write

    def counting(data: bytes) -> None:
        writes.append(data)
        record(data)

    def counting_lines(parts: list[bytes]) -> None:
        writes.append(b"".join(parts))
        record(b"".join(parts))

    conn.transport.write = counting  # type: ignore[method-assign]
    conn.transport.writelines = counting_lines  # type: ignore[method-assign]
    conn.feed(GET)
    await conn.settle()
    assert len(writes) == 1
    assert parse_responses(writes[0], ["GET"], eof=False)[0].body == b"data: 1\n\ndata: 2\n\n"


async def test_a_started_response_reaches_the_client_while_the_handler_waits() -> None:
    release = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [])
        exchange.write(b"first")
        await release.wait()
        exchange.end()

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    out = conn.transport.take()
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"5\r\nfirst\r\n")
    release.set()
    await conn.settle()
    assert conn.transport.take() == b"0\r\n\r\n"


async def test_writes_after_the_first_loop_turn_reach_the_transport_at_once() -> None:
    later: list[bytes] = []

    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [])
        exchange.write(b"a")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        before = bytes(conn.transport.buffer)
        exchange.write(b"b")
        later.append(bytes(conn.transport.buffer)[len(before):])
        exchange.end()

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    assert later == [b"1\r\nb\r\n"]


async def test_a_handler_failing_mid_stream_sends_what_it_wrote_before_the_close() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [])
        exchange.write(b"partial")
        raise GatewayError(502, "upstream died")

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    assert conn.transport.closed
    out = bytes(conn.transport.buffer)
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"7\r\npartial\r\n")


async def test_streaming_without_length_is_close_delimited_on_http10() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [])
        exchange.write(b"abc")
        exchange.end()

    conn = make_conn(handler)
    conn.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    await conn.settle()
    out = conn.transport.take()
    assert b"transfer-encoding" not in out and b"connection: close\r\n" in out
    assert out.endswith(b"\r\n\r\nabc")
    assert conn.transport.closed


async def test_no_content_response_has_no_length_and_no_body() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.respond(204, [], b"ignored")

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    out = conn.transport.take()
    assert b"content-length" not in out and out.endswith(b"\r\n\r\n")
    assert parse_responses(out, ["GET"], eof=False)[0].status == 204


async def test_server_owned_headers_from_the_app_are_replaced() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.respond(
            200,
            [(b"Content-Length", b"999"), (b"Date", b"yesterday"), (b"Connection", b"close"), (b"x-a", b"1")],
            b"ok",
        )

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["GET"])
    assert resp.headers[b"content-length"] == b"2"
    assert resp.headers[b"date"] != b"yesterday"
    assert resp.headers[b"x-a"] == b"1"
    assert resp.headers[b"connection"] == b"close"  # the app's close is honoured
    assert conn.transport.closed


async def test_date_header_is_cached_until_refreshed() -> None:
    conn = make_conn(respond_ok)
    conn.state.date.block = b"date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: ferrogate\r\n"
    conn.feed(GET)
    await conn.settle()
    assert b"date: Thu, 01 Jan 1970 00:00:00 GMT\r\n" in conn.transport.take()
    conn.state.date.refresh()
    conn.feed(GET)
    await conn.settle()
    assert b"1970" not in conn.transport.take()


async def test_drain_waits_while_the_transport_is_paused() -> None:
    drained = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [])
        exchange.write(b"x")
        await exchange.drain()
        drained.set()
        exchange.end()

    conn = make_conn(handler)
    conn.protocol.pause_writing()
    conn.feed(GET)
    await conn.settle()
    assert not drained.is_set()
    conn.protocol.resume_writing()
    await asyncio.wait_for(drained.wait(), 2)


# --------------------------------------------------------------------------- handler outcomes


async def test_gateway_error_before_start_is_rendered_and_keep_alive_survives() -> None:
    async def handler(exchange: Exchange) -> None:
        raise GatewayError(404, "no route", code="not_found")

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["GET"], eof=False)
    assert resp.status == 404
    assert resp.headers[b"content-type"] == b"application/json"
    assert b'"message":"no route"' in resp.body
    assert not conn.transport.closed


async def test_unexpected_exception_before_start_is_a_rendered_500(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(exchange: Exchange) -> None:
        raise ValueError("boom")

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["GET"], eof=False)
    assert resp.status == 500
    assert b"boom" not in resp.body  # internals never leak into the body
    assert "handler failed" in caplog.text


async def test_exception_after_start_closes_the_connection() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [])
        exchange.write(b"partial")
        raise ValueError("boom")

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    out = conn.transport.take()
    assert out.startswith(b"HTTP/1.1 200 ") and not out.endswith(b"0\r\n\r\n")
    assert conn.transport.closed


async def test_handler_that_returns_without_responding_yields_500() -> None:
    async def handler(exchange: Exchange) -> None:
        return None

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    assert parse_responses(conn.transport.take(), ["GET"], eof=False)[0].status == 500


async def test_client_disconnect_cancels_the_running_handler() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    conn = make_conn(handler)
    conn.feed(GET)
    await asyncio.wait_for(started.wait(), 2)
    assert conn.state.inflight == 1
    conn.protocol.connection_lost(ConnectionResetError())
    await asyncio.wait_for(cancelled.wait(), 2)
    assert conn.state.inflight == 0
    assert conn.lost


async def test_disconnect_after_the_response_does_not_cancel_post_response_work() -> None:
    finished = asyncio.Event()
    responded = asyncio.Event()
    go_on = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await respond_ok(exchange)
        responded.set()
        await go_on.wait()
        finished.set()

    conn = make_conn(handler)
    conn.feed(GET)
    await asyncio.wait_for(responded.wait(), 2)
    conn.protocol.connection_lost(None)
    go_on.set()
    await asyncio.wait_for(finished.wait(), 2)


# --------------------------------------------------------------------------- timeouts


async def test_headers_not_complete_in_time_get_408_and_close() -> None:
    conn = make_conn(respond_ok, Limits(header_timeout_secs=0.05))
    conn.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
    await asyncio.wait_for(conn.transport.finished.wait(), 2)
    (resp,) = parse_responses(conn.transport.take(), ["GET"])
    assert resp.status == 408


async def test_idle_keep_alive_connection_closes_quietly() -> None:
    conn = make_conn(respond_ok, Limits(idle_timeout_secs=0.05, header_timeout_secs=0.02))
    conn.feed(GET)
    await conn.settle()
    conn.transport.take()
    await asyncio.wait_for(conn.transport.finished.wait(), 2)
    assert conn.transport.closed and conn.transport.take() == b""


async def test_a_long_handler_is_not_subject_to_the_header_timeout() -> None:
    answered = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await asyncio.sleep(0.15)  # the handler's own work, longer than the header timeout
        await respond_ok(exchange)
        answered.set()

    conn = make_conn(handler, Limits(header_timeout_secs=0.03, idle_timeout_secs=5))
    conn.feed(GET)
    await asyncio.wait_for(answered.wait(), 5)
    assert parse_responses(conn.transport.take(), ["GET"], eof=False)[0].status == 200
    assert not conn.transport.closed


async def test_body_that_stops_arriving_gets_408() -> None:
    async def echo(exchange: Exchange) -> None:
        exchange.respond(200, [], await exchange.read_body())

    conn = make_conn(echo, Limits(body_timeout_secs=0.05))
    conn.feed(post(b"abc")[:-1])
    await asyncio.wait_for(conn.transport.finished.wait(), 2)
    assert parse_responses(conn.transport.take(), ["POST"])[0].status == 408


async def test_oversized_header_block_in_small_reads_is_431() -> None:
    conn = make_conn(respond_ok, Limits(max_header_bytes=1024))
    conn.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ")
    for _ in range(20):
        if conn.transport.finished.is_set():
            break
        conn.feed(b"v" * 100)
    await conn.settle()
    assert parse_responses(conn.transport.take(), ["GET"])[0].status == 431


# --------------------------------------------------------------------------- shutdown


async def test_shutdown_closes_an_idle_connection_at_once() -> None:
    conn = make_conn(respond_ok)
    conn.feed(GET)
    await conn.settle()
    conn.protocol.shutdown()
    assert conn.transport.closed


async def test_shutdown_keeps_a_connection_that_has_not_sent_its_first_request() -> None:
    # Accepted just before the listener closed: its request is on the way, and no other
    # worker can answer it, so it is served (with connection: close) rather than dropped.
    conn = make_conn(respond_ok)
    conn.protocol.shutdown()
    assert not conn.transport.closed
    conn.feed(GET)
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["GET"])
    assert resp.status == 200 and resp.headers[b"connection"] == b"close"
    assert conn.transport.closed


async def test_shutdown_lets_a_busy_connection_finish_with_connection_close() -> None:
    release = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await release.wait()
        await respond_ok(exchange)

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    conn.protocol.shutdown()
    assert not conn.transport.closed
    release.set()
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["GET"])
    assert resp.status == 200 and resp.headers[b"connection"] == b"close"
    assert conn.transport.closed


async def test_writing_past_the_announced_length_is_refused_and_closes() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [], 3)
        exchange.write(b"abcdef")

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    out = conn.transport.take()
    assert out.endswith(b"content-length: 3\r\n\r\n")  # not one body byte beyond the head
    assert conn.transport.closed


async def test_a_short_body_under_content_length_closes_after_end() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.start_response(200, [], 10)
        exchange.write(b"abc")
        exchange.end()

    conn = make_conn(handler)
    conn.feed(GET)
    await conn.settle()
    assert conn.transport.closed


async def test_upgrade_request_is_answered_as_plain_http_then_closed() -> None:
    conn = make_conn(respond_ok)
    conn.feed(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello")
    await conn.settle()
    (resp,) = parse_responses(conn.transport.take(), ["GET"])
    assert resp.status == 200 and resp.headers[b"connection"] == b"close"
    assert conn.transport.closed


async def test_each_pipelined_request_keeps_its_own_http_version() -> None:
    versions: list[str] = []

    async def handler(exchange: Exchange) -> None:
        versions.append(exchange.request.http_version)
        await respond_ok(exchange)

    conn = make_conn(handler)
    conn.feed(b"\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n")  # a leading blank line is tolerated
    await conn.settle()
    conn.feed(b"GET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    await conn.settle()
    conn.feed(b"GET /d HTTP/1.0\r\n\r\n")
    await conn.settle()
    assert versions == ["1.1", "1.1", "1.0", "1.0"]
