"""Upstream client and keep-alive pool against real asyncio test upstreams."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import h11
import pytest

from ferrogate._fastpath.pool import (
    Origin,
    PoolSet,
    UpstreamPool,
    build_head,
    head_prefix,
    plan_checkout,
)
from ferrogate._fastpath.upstream import (
    HIGH_WATER,
    ConnState,
    Timeouts,
    UpstreamConnection,
    Watchdog,
)
from ferrogate._fastpath.upstream_errors import (
    UpstreamBodyTooLarge,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from ferrogate.errors import render
from tests.proxy.upstreams import TestUpstream, UpConn, UpRequest

pytestmark = pytest.mark.anyio

GET = b"GET"


async def wait_for(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    """Wait (polling the loop) until ``condition()`` holds, or fail after ``deadline`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        assert loop.time() < end, "condition not reached before the deadline"
        await asyncio.sleep(0.005)


def pool_for(up: TestUpstream, **kw: object) -> UpstreamPool:
    return PoolSet().pool(up.url, **kw)  # type: ignore[arg-type]


async def test_sequential_requests_reuse_one_connection() -> None:
    async with TestUpstream() as up:
        pool = pool_for(up)
        for i in range(3):
            resp = await pool.request(GET, b"/n/%d" % i, [])
            assert resp.status == 200
            assert resp.header(b"x-path") == b"/n/%d" % i
            assert await resp.read() == b""
        assert up.connections == 1
        assert pool.connects == 1


async def test_request_carries_host_and_content_length() -> None:
    async with TestUpstream() as up:
        pool = pool_for(up)
        resp = await pool.request(b"POST", b"/echo", [(b"x-a", b"1")], b"hello")
        assert await resp.read() == b"hello"
        seen = up.requests[0]
        assert seen.header(b"host") == f"127.0.0.1:{up.port}".encode()
        assert seen.header(b"content-length") == b"5"
        assert seen.header(b"x-a") == b"1"


async def test_chunked_response_is_read_whole_and_connection_reused() -> None:
    async def chunked(req: UpRequest, conn: UpConn) -> None:
        conn.send(h11.Response(status_code=200, headers=[(b"transfer-encoding", b"chunked")]))
        for part in (b"ab", b"cd", b"ef"):
            conn.send(h11.Data(data=part))
            await conn.writer.drain()
        conn.send(h11.EndOfMessage())
        await conn.writer.drain()

    async with TestUpstream(chunked) as up:
        pool = pool_for(up)
        for _ in range(2):
            resp = await pool.request(GET, b"/", [])
            assert resp.chunked
            assert await resp.read() == b"abcdef"
        assert up.connections == 1


async def test_close_delimited_response_ends_at_eof() -> None:
    async def http10(req: UpRequest, conn: UpConn) -> None:
        conn.writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil-eof")
        await conn.writer.drain()
        conn.close()

    async with TestUpstream(http10) as up:
        pool = pool_for(up)
        resp = await pool.request(GET, b"/", [])
        assert await resp.read() == b"until-eof"
        assert pool.idle_count == 0
        resp = await pool.request(GET, b"/", [])
        assert await resp.read() == b"until-eof"
        assert up.connections == 2


async def test_head_response_has_no_body_and_keeps_the_connection() -> None:
    async def head_aware(req: UpRequest, conn: UpConn) -> None:
        await conn.respond(
            200, [(b"content-length", b"10")], b"" if req.method == b"HEAD" else b"0123456789"
        )

    async with TestUpstream(head_aware) as up:
        pool = pool_for(up)
        resp = await pool.request(b"HEAD", b"/", [])
        assert resp.content_length == 10
        assert await resp.read() == b""
        resp = await pool.request(GET, b"/", [])
        assert await resp.read() == b"0123456789"
        assert up.connections == 1


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses_complete_without_body(status: int) -> None:
    async def no_body(req: UpRequest, conn: UpConn) -> None:
        conn.send(h11.Response(status_code=status, headers=[]))
        conn.send(h11.EndOfMessage())
        await conn.writer.drain()

    async with TestUpstream(no_body) as up:
        pool = pool_for(up)
        for _ in range(2):
            resp = await pool.request(GET, b"/", [])
            assert resp.status == status
            assert await resp.read() == b""
        assert up.connections == 1


async def test_idle_connection_closed_by_upstream_is_not_reused() -> None:
    async def respond_then_close(req: UpRequest, conn: UpConn) -> None:
        await conn.respond(200, [], b"ok")
        conn.close()

    async with TestUpstream(respond_then_close) as up:
        pool = pool_for(up)
        assert await (await pool.request(GET, b"/", [])).read() == b"ok"
        await wait_for(lambda: pool.live_idle_count == 0)  # the FIN marks it dead
        assert pool.idle_count == 1
        assert await (await pool.request(GET, b"/", [])).read() == b"ok"
        assert up.connections == 2
        assert pool.retries == 0


def _stale_on_second_request() -> tuple[TestUpstream, list[int]]:
    """An upstream that closes a kept-alive connection as the 2nd request on it arrives."""

    async def handler(req: UpRequest, conn: UpConn) -> None:
        if req.request_index == 2:
            conn.writer.transport.abort()
            conn.closed = True
            return
        await req.body()
        await conn.respond(200, [], b"fresh")

    return TestUpstream(handler), []


async def test_reused_connection_failing_before_response_is_retried_once() -> None:
    up, _ = _stale_on_second_request()
    async with up:
        pool = pool_for(up)
        assert await (await pool.request(GET, b"/", [])).read() == b"fresh"
        resp = await pool.request(b"POST", b"/", [], b"replayable")
        assert await resp.read() == b"fresh"
        assert pool.retries == 1
        assert up.connections == 2


async def test_streamed_body_on_a_stale_connection_is_not_retried() -> None:
    up, _ = _stale_on_second_request()

    async def body() -> AsyncIterator[bytes]:
        yield b"once"

    async with up:
        pool = pool_for(up)
        assert await (await pool.request(GET, b"/", [])).read() == b"fresh"
        with pytest.raises((UpstreamProtocolError, UpstreamConnectError)) as info:
            await pool.request(b"POST", b"/", [], body())
        assert info.value.reused
        assert info.value.status == 502
        assert pool.retries == 0
        assert up.connections == 1


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A bound but not listening port: connecting to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_connect_refused_is_a_502_connect_error(refused_port: int) -> None:
    pools = PoolSet()
    with pytest.raises(UpstreamConnectError) as info:
        await pools.request(f"http://127.0.0.1:{refused_port}", GET, b"/", [])
    err = info.value
    assert (err.status, err.phase, err.reused) == (502, "connect", False)
    status, _headers, body = render(err)
    assert status == 502 and b"upstream_connect_error" in body


async def test_first_byte_timeout_is_a_504() -> None:
    async def stall(req: UpRequest, conn: UpConn) -> None:
        await asyncio.sleep(5)

    async with TestUpstream(stall) as up:
        pool = pool_for(up)
        with pytest.raises(UpstreamTimeout) as info:
            await pool.request(GET, b"/", [], timeouts=Timeouts(first_byte=0.1))
        assert (info.value.status, info.value.phase) == (504, "first_byte")
        assert pool.idle_count == 0


async def test_a_first_byte_timeout_on_a_reused_connection_is_not_replayed() -> None:
    """The upstream may still be working on it: replaying would run it twice and double
    the client's wait. Retrying a timeout is the dispatcher's decision, not the pool's."""

    async def stall_second(req: UpRequest, conn: UpConn) -> None:
        if req.request_index == 2:
            await asyncio.sleep(5)
            return
        await conn.respond(200, [], b"ok")

    async with TestUpstream(stall_second) as up:
        pool = pool_for(up)
        assert await (await pool.request(GET, b"/", [])).read() == b"ok"
        with pytest.raises(UpstreamTimeout) as info:
            await pool.request(b"POST", b"/", [], b"replayable", timeouts=Timeouts(first_byte=0.2))
        assert (info.value.phase, info.value.reused) == ("first_byte", True)
        assert pool.retries == 0
        assert up.connections == 1


async def test_total_timeout_covers_a_slow_body() -> None:
    async def slow_body(req: UpRequest, conn: UpConn) -> None:
        conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"100")]))
        conn.send(h11.Data(data=b"x"))
        await conn.writer.drain()
        await asyncio.sleep(5)

    async with TestUpstream(slow_body) as up:
        pool = pool_for(up)
        resp = await pool.request(GET, b"/", [], timeouts=Timeouts(total=0.2))
        with pytest.raises(UpstreamTimeout) as info:
            await resp.read()
        assert info.value.phase == "total"


async def test_idle_timeout_between_body_bytes() -> None:
    async def stall_mid_body(req: UpRequest, conn: UpConn) -> None:
        conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"100")]))
        conn.send(h11.Data(data=b"x"))
        await conn.writer.drain()
        await asyncio.sleep(5)

    async with TestUpstream(stall_mid_body) as up:
        pool = pool_for(up)
        resp = await pool.request(GET, b"/", [], timeouts=Timeouts(idle=0.1))
        with pytest.raises(UpstreamTimeout) as info:
            await resp.read()
        assert info.value.phase == "idle"


async def test_a_body_under_way_with_no_deadline_left_is_not_watched() -> None:
    async def slow_body(req: UpRequest, conn: UpConn) -> None:
        conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"2")]))
        conn.send(h11.Data(data=b"x"))
        await conn.writer.drain()
        await asyncio.sleep(0.2)
        conn.send(h11.Data(data=b"y"))
        await conn.writer.drain()

    async with TestUpstream(slow_body) as up:
        pool = pool_for(up)
        resp = await pool.request(GET, b"/", [], timeouts=Timeouts(first_byte=5.0))
        assert pool._watchdog is not None and len(pool._watchdog.wheel) == 0  # first byte came: nothing to time
        assert await resp.read() == b"xy"


async def test_upstream_closing_mid_body_is_a_protocol_error() -> None:
    async def truncate(req: UpRequest, conn: UpConn) -> None:
        conn.writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await conn.writer.drain()
        conn.close()

    async with TestUpstream(truncate) as up:
        resp = await pool_for(up).request(GET, b"/", [])
        with pytest.raises(UpstreamProtocolError) as info:
            await resp.read()
        assert info.value.phase == "body"


async def test_invalid_response_is_a_protocol_error() -> None:
    async def garbage(req: UpRequest, conn: UpConn) -> None:
        conn.writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await conn.writer.drain()

    async with TestUpstream(garbage) as up:
        with pytest.raises(UpstreamProtocolError):
            await pool_for(up).request(GET, b"/", [])


async def test_read_over_max_bytes_is_an_error() -> None:
    async def big(req: UpRequest, conn: UpConn) -> None:
        await conn.respond(200, [], b"y" * 5000)

    async with TestUpstream(big) as up:
        resp = await pool_for(up).request(GET, b"/", [])
        with pytest.raises(UpstreamBodyTooLarge):
            await resp.read(max_bytes=1000)


async def test_abandoned_response_connection_is_never_reused() -> None:
    async def big(req: UpRequest, conn: UpConn) -> None:
        conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"1000000")]))
        conn.send(h11.Data(data=b"z" * 1000))
        await conn.writer.drain()
        await asyncio.sleep(5)

    async with TestUpstream(big) as up:
        pool = pool_for(up)
        resp = await pool.request(GET, b"/", [], timeouts=Timeouts(first_byte=2))
        resp.close()
        assert pool.idle_count == 0
        resp = await pool.request(GET, b"/", [], timeouts=Timeouts(first_byte=2))
        resp.close()
        assert up.connections == 2


async def test_slow_consumer_pauses_the_upstream_and_buffer_stays_bounded() -> None:
    total = 8 * 1024 * 1024

    async def firehose(req: UpRequest, conn: UpConn) -> None:
        block = b"f" * 65536
        conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"%d" % total)]))
        for _ in range(total // len(block)):
            conn.send(h11.Data(data=block))
            await conn.writer.drain()
        conn.send(h11.EndOfMessage())
        await conn.writer.drain()

    async with TestUpstream(firehose) as up:
        pool = pool_for(up)
        resp = await pool.request(GET, b"/", [])
        received = 0
        max_buffered = 0
        paused_seen = False
        async for chunk in resp.chunks():
            received += len(chunk)
            await asyncio.sleep(0.002)  # a slow client
            max_buffered = max(max_buffered, resp._size)
            paused_seen = paused_seen or resp._paused
        assert received == total
        assert paused_seen
        assert max_buffered <= HIGH_WATER + 512 * 1024
        assert pool.idle_count == 1


async def test_streamed_upload_is_sent_chunked() -> None:
    seen: list[bytes] = []

    async def collect(req: UpRequest, conn: UpConn) -> None:
        async for part in req.stream():
            seen.append(part)
        await conn.respond(200, [], b"got %d" % sum(map(len, seen)))

    async def body() -> AsyncIterator[bytes]:
        for i in range(5):
            yield b"part%d;" % i
            await asyncio.sleep(0)

    async with TestUpstream(collect) as up:
        pool = pool_for(up)
        resp = await pool.request(b"POST", b"/up", [], body())
        assert await resp.read() == b"got 30"
        assert up.requests[0].header(b"transfer-encoding") == b"chunked"
        assert b"".join(seen) == b"part0;part1;part2;part3;part4;"
        assert pool.idle_count == 1


async def test_streamed_upload_with_content_length_is_sent_as_is() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    async with TestUpstream() as up:
        pool = pool_for(up)
        resp = await pool.request(b"PUT", b"/", [(b"content-length", b"6")], body())
        assert await resp.read() == b"abcdef"
        assert up.requests[0].header(b"transfer-encoding") is None


def test_origin_from_url_defaults_and_host_header() -> None:
    assert Origin.from_url("https://api.example.com/v1") == Origin("https", "api.example.com", 443)
    assert Origin.from_url("localhost:9000").host_header == b"localhost:9000"
    assert Origin.from_url("http://[::1]:81").host_header == b"[::1]:81"
    with pytest.raises(ValueError):
        Origin.from_url("ftp://x")


async def test_interim_100_continue_is_skipped() -> None:
    async def early_continue(req: UpRequest, conn: UpConn) -> None:
        conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone")
        await conn.writer.drain()
        conn.close()

    async with TestUpstream(early_continue) as up:
        resp = await pool_for(up).request(b"POST", b"/", [], b"x")
        assert resp.status == 201
        assert await resp.read() == b"done"


@pytest.fixture
def idle_conn() -> Iterator[Callable[..., UpstreamConnection]]:
    """Real, unconnected UpstreamConnections in a given checkout state (the pure
    decision reads only ``state`` and ``idle_since``; a stand-in class would be
    rejected by the mypyc-compiled ``plan_checkout``)."""
    loop = asyncio.new_event_loop()

    def make(idle_since: float, state: ConnState = ConnState.IDLE) -> UpstreamConnection:
        conn = UpstreamConnection(loop, lambda _conn, _reusable: None, Watchdog(loop))
        conn.idle_since = idle_since
        conn.state = state
        return conn

    try:
        yield make
    finally:
        loop.close()


def test_plan_checkout_reuses_the_newest_fresh_connection(
    idle_conn: Callable[..., UpstreamConnection],
) -> None:
    idle = [idle_conn(1.0), idle_conn(2.0), idle_conn(3.0)]
    reuse, keep, close = plan_checkout(idle, now=4.0, keepalive_secs=10)
    assert (reuse, keep, list(close)) == (idle[2], 2, [])


def test_plan_checkout_skips_dead_and_closes_expired(
    idle_conn: Callable[..., UpstreamConnection],
) -> None:
    idle = [idle_conn(1.0), idle_conn(2.0), idle_conn(9.0, ConnState.CLOSED)]
    reuse, keep, close = plan_checkout(idle, now=20.0, keepalive_secs=10)
    assert (reuse, keep, list(close)) == (None, 0, idle[:2])


def test_plan_checkout_of_nothing_connects() -> None:
    assert plan_checkout([], now=0.0, keepalive_secs=10) == (None, 0, ())


async def test_max_idle_bounds_the_pool() -> None:
    both_in = asyncio.Event()
    arrived = 0

    async def rendezvous(req: UpRequest, conn: UpConn) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), 5)
        await conn.respond(200, [], b"ok")

    async with TestUpstream(rendezvous) as up:
        pool = PoolSet().pool(up.url, max_idle=1)
        first, second = await asyncio.gather(
            pool.request(GET, b"/", []), pool.request(GET, b"/", [])
        )
        assert await first.read() == await second.read() == b"ok"
        assert up.connections == 2
        assert pool.idle_count == 1


async def test_idle_connection_past_keepalive_is_not_reused() -> None:
    async with TestUpstream() as up:
        pool = PoolSet().pool(up.url, keepalive_secs=0.0)
        await (await pool.request(GET, b"/", [])).read()
        await (await pool.request(GET, b"/", [])).read()
        assert up.connections == 2


def test_a_head_prefix_plus_its_content_length_is_the_head_build_head_makes() -> None:
    headers = [(b"content-type", b"application/json"), (b"authorization", b"Bearer k")]
    prefix = head_prefix(b"POST", b"/v1/chat/completions", headers, b"api.example:8443")
    assert prefix + b"content-length: 12\r\n\r\n" == build_head(
        b"POST", b"/v1/chat/completions", headers, b"api.example:8443", 12, False
    )
    assert prefix.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert prefix.endswith(b"host: api.example:8443\r\n")
