"""A live HttpServer on 127.0.0.1:0, driven by raw sockets and h11 as a strict client."""

from __future__ import annotations

import asyncio
import socket

import h11
import pytest

from ferrogate._fastpath.api import Exchange
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate.config.model import Limits
from tests.fastpath.conftest import (
    Live,
    Peer,
    parse_responses,
    read_until_closed,
    respond_ok,
    serve,
)

pytestmark = pytest.mark.anyio


async def roundtrip(
    peer: Peer,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
):  # type: ignore[no-untyped-def]
    writer.write(peer.request_bytes(method, target, headers, body))
    while True:
        got = peer.receive(b"")
        if got:
            return got[0]
        data = await asyncio.wait_for(reader.read(65536), 5)
        peer.conn.receive_data(data)


async def echo(exchange: Exchange) -> None:
    body = await exchange.read_body()
    client = exchange.request.client
    port = str(client[1]).encode() if client else b"-"
    exchange.respond(200, [(b"x-client-port", port)], body)


async def test_keep_alive_reuses_one_connection() -> None:
    async with serve(echo) as live:
        reader, writer = await live.open()
        peer = Peer()
        first = await roundtrip(peer, reader, writer, "POST", "/a", body=b"one")
        second = await roundtrip(peer, reader, writer, "POST", "/b", body=b"two")
        assert (first.body, second.body) == (b"one", b"two")
        assert first.headers[b"x-client-port"] == second.headers[b"x-client-port"]
        assert live.server.connection_count == 1
        writer.close()


async def test_http10_request_is_answered_and_closed() -> None:
    async with serve(respond_ok) as live:
        reader, writer = await live.open()
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        data = await read_until_closed(reader)
        writer.close()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nok")


async def test_pipelined_requests_come_back_in_order() -> None:
    async def handler(exchange: Exchange) -> None:
        if exchange.request.path == b"/1":
            await asyncio.sleep(0.05)  # the first answer is the slowest
        exchange.respond(200, [], exchange.request.path)

    async with serve(handler) as live:
        reader, writer = await live.open()
        writer.write(b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in (1, 2, 3)))
        writer.write(b"GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = await read_until_closed(reader)
        writer.close()
        assert [r.body for r in parse_responses(data, ["GET"] * 4)] == [b"/1", b"/2", b"/3", b"/4"]


async def test_chunked_upload_is_reassembled() -> None:
    async with serve(echo) as live:
        reader, writer = await live.open()
        peer = Peer()
        writer.write(
            peer.conn.send(h11.Request(method="POST", target="/", headers=[("host", "a"), ("transfer-encoding", "chunked")]))
            or b""
        )
        for part in (b"alpha ", b"beta ", b"gamma"):
            writer.write(peer.conn.send(h11.Data(data=part)) or b"")
            await writer.drain()
        writer.write(peer.conn.send(h11.EndOfMessage()) or b"")
        while not (got := peer.receive(await asyncio.wait_for(reader.read(65536), 5))):
            pass
        assert got[0].body == b"alpha beta gamma"
        writer.close()


async def test_expect_100_continue_round_trip() -> None:
    async with serve(echo) as live:
        reader, writer = await live.open()
        writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"body")
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = await read_until_closed(reader)
        writer.close()
        assert [r.body for r in parse_responses(data, ["POST", "GET"])] == [b"body", b""]


async def test_head_response_has_length_and_no_body() -> None:
    async def handler(exchange: Exchange) -> None:
        exchange.respond(200, [], b"0123456789")

    async with serve(handler) as live:
        reader, writer = await live.open()
        peer = Peer()
        head = await roundtrip(peer, reader, writer, "HEAD")
        after = await roundtrip(peer, reader, writer, "GET")  # framing stayed in sync
        assert head.headers[b"content-length"] == b"10" and head.body == b""
        assert after.body == b"0123456789"
        writer.close()


async def test_slowloris_gets_408_and_close() -> None:
    async with serve(respond_ok, Limits(header_timeout_secs=0.3)) as live:
        reader, writer = await live.open()
        loop = asyncio.get_running_loop()
        started = loop.time()
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nX-Drip: ")
        data = await read_until_closed(reader)
        writer.close()
        assert parse_responses(data, ["GET"])[0].status == 408
        assert loop.time() - started >= 0.25


async def test_connection_that_sends_nothing_gets_408() -> None:
    async with serve(respond_ok, Limits(header_timeout_secs=0.3)) as live:
        reader, writer = await live.open()
        data = await read_until_closed(reader)
        writer.close()
        assert parse_responses(data, ["GET"])[0].status == 408


async def test_oversized_header_block_is_431() -> None:
    async with serve(respond_ok) as live:
        reader, writer = await live.open()
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * (40 * 1024) + b"\r\n\r\n")
        data = await read_until_closed(reader)
        writer.close()
        assert parse_responses(data, ["GET"])[0].status == 431
        assert live.server.protocol_errors == {431: 1}


async def test_declared_oversized_body_is_413() -> None:
    async with serve(echo, Limits(max_body_bytes=1000)) as live:
        reader, writer = await live.open()
        writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n")
        data = await read_until_closed(reader)
        writer.close()
        assert parse_responses(data, ["POST"])[0].status == 413


async def test_chunked_body_over_the_limit_is_413_while_the_client_still_sends() -> None:
    async with serve(echo, Limits(max_body_bytes=64 * 1024)) as live:
        reader, writer = await live.open()
        writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % 16384 + b"z" * 16384 + b"\r\n"
        for _ in range(16):  # 256 KiB: well past the limit; the linger keeps these writes safe
            writer.write(chunk)
        await writer.drain()
        data = await read_until_closed(reader)
        writer.close()
        assert parse_responses(data, ["POST"])[0].status == 413


async def test_idle_keep_alive_connection_is_closed_quietly() -> None:
    async with serve(respond_ok, Limits(idle_timeout_secs=0.3)) as live:
        reader, writer = await live.open()
        peer = Peer()
        await roundtrip(peer, reader, writer)
        rest = await read_until_closed(reader)
        writer.close()
        assert rest == b""


async def test_client_disconnect_cancels_the_handler() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serve(handler) as live:
        _reader, writer = await live.open()
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.wait_for(started.wait(), 5)
        writer.close()
        await asyncio.wait_for(cancelled.wait(), 5)
        assert live.server.inflight == 0


async def test_slow_reader_blocks_drain_and_bounds_memory() -> None:
    chunk = b"y" * (64 * 1024)
    total_chunks = 512  # 32 MiB
    blocked = asyncio.Event()
    sent = 0
    max_buffered = 0

    async def handler(exchange: Exchange) -> None:
        nonlocal sent, max_buffered
        assert isinstance(exchange, HttpExchange)
        transport = exchange._transport
        exchange.start_response(200, [], len(chunk) * total_chunks)
        for _ in range(total_chunks):
            exchange.write(chunk)
            sent += len(chunk)
            max_buffered = max(max_buffered, transport.get_write_buffer_size())
            if exchange._conn.flow.writing_paused:
                blocked.set()
            await exchange.drain()
        exchange.end()

    async with serve(handler) as live:
        reader, writer = await live.open()
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.wait_for(blocked.wait(), 5)
        # The client still reads nothing: the producer must come to a stop. The kernel grows
        # the sockets' buffers for a while (TCP autotuning), each growth draining the transport
        # below its low-water mark once more, so it stops after some pauses, not the first.
        at_block = -1
        for _ in range(25):
            if sent == at_block:
                break
            at_block = sent
            await asyncio.sleep(0.2)
        assert sent == at_block < len(chunk) * total_chunks
        received = 0
        while received < len(chunk) * total_chunks:
            data = await asyncio.wait_for(reader.read(1 << 20), 5)
            assert data
            received += len(data)
        writer.close()
    assert sent == len(chunk) * total_chunks
    # The server never holds more than its write high-water mark plus one chunk.
    assert max_buffered <= 64 * 1024 + len(chunk) * 2


# --------------------------------------------------------------------------- shutdown


async def test_shutdown_closes_idle_and_finishes_busy_with_connection_close() -> None:
    release = asyncio.Event()
    busy_started = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        if exchange.request.path == b"/busy":
            busy_started.set()
            await release.wait()
        await respond_ok(exchange)

    async with serve(handler) as live:
        idle_r, idle_w = await live.open()
        await roundtrip(Peer(), idle_r, idle_w)
        busy_r, busy_w = await live.open()
        busy_w.write(b"GET /busy HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.wait_for(busy_started.wait(), 5)

        stopping = asyncio.create_task(live.server.shutdown(5.0))
        assert await read_until_closed(idle_r) == b""  # idle: closed at once
        assert not stopping.done()
        release.set()
        data = await read_until_closed(busy_r)
        (resp,) = parse_responses(data, ["GET"])
        assert resp.status == 200 and resp.headers[b"connection"] == b"close"
        await asyncio.wait_for(stopping, 5)
        assert live.server.connection_count == 0
        idle_w.close()
        busy_w.close()


async def test_shutdown_aborts_what_is_left_after_the_grace_period() -> None:
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serve(handler) as live:
        reader, writer = await live.open()
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.wait_for(live.server.shutdown(0.2), 5)
        assert cancelled.is_set()
        assert live.server.connection_count == 0
        try:
            data = await read_until_closed(reader)
        except ConnectionResetError:  # aborted: a reset is the expected signal, EOF is fine too
            data = b""
        assert data == b""  # no response bytes were ever sent
        writer.close()


async def test_stop_accepting_refuses_new_connections_but_serves_open_ones() -> None:
    async with serve(respond_ok) as live:
        reader, writer = await live.open()
        live.server.stop_accepting()
        await asyncio.sleep(0)
        with pytest.raises(OSError):
            await connect_once(live)
        resp = await roundtrip(Peer(), reader, writer)
        assert resp.status == 200
        writer.close()


async def connect_once(live: Live) -> None:
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=2)
    sock.close()


async def test_begin_drain_answers_the_next_request_with_close() -> None:
    async with serve(respond_ok) as live:
        reader, writer = await live.open()
        peer = Peer()
        first = await roundtrip(peer, reader, writer)
        live.server.begin_drain()
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        (second,) = parse_responses(await read_until_closed(reader), ["GET"])
        writer.close()
        assert b"connection" not in first.headers
        assert second.status == 200 and second.headers[b"connection"] == b"close"


async def test_an_early_answer_to_an_unread_upload_reaches_the_client() -> None:
    async def reject(exchange: Exchange) -> None:
        exchange.respond(401, [], b"no key")  # answers without reading the 2 MiB body

    async with serve(reject) as live:
        reader, writer = await live.open()
        size = 2 * 1024 * 1024
        writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
        writer.write(b"u" * size)  # the linger keeps reading, so this completes without a reset
        await asyncio.wait_for(writer.drain(), 5)
        data = await read_until_closed(reader)
        writer.close()
        (resp,) = parse_responses(data, ["POST"])
        assert resp.status == 401 and resp.body == b"no key"
        assert resp.headers[b"connection"] == b"close"


async def test_shutdown_waits_for_work_after_the_response_then_cancels_at_grace() -> None:
    finished = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        await respond_ok(exchange)
        try:
            if exchange.request.path == b"/short":
                await asyncio.sleep(0.2)  # e.g. settling usage after the answer
                finished.set()
            else:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serve(handler) as live:
        for path in ("/short", "/forever"):
            reader, writer = await live.open()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
            await read_until_closed(reader)
            writer.close()
        await asyncio.wait_for(live.server.shutdown(1.0), 5)
        assert finished.is_set() and cancelled.is_set()
