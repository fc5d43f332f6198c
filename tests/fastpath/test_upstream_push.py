"""UpstreamResponse.push: a long stream's bytes handed to a sink inside the read callback,
stopping for a client that is behind and raising what the body or the sink failed with."""

from __future__ import annotations

import asyncio

import pytest

from ferrogate._fastpath.upstream_errors import UpstreamProtocolError
from ferrogate._fastpath.upstream_response import HIGH_WATER, UpstreamResponse

pytestmark = pytest.mark.anyio


class _Conn:
    def __init__(self) -> None:
        self.paused = False
        self.abandoned = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def abandon(self, resp: UpstreamResponse) -> None:
        self.abandoned = True


class _Sink:
    def __init__(self, stop_after: int | None = None, fail_on: bytes | None = None) -> None:
        self.taken: list[bytes] = []
        self.stop_after = stop_after
        self.fail_on = fail_on

    def take(self, data: bytes) -> bool:
        if data == self.fail_on:
            raise ValueError("the translator refused this")
        self.taken.append(data)
        return self.stop_after is None or len(self.taken) < self.stop_after


def _response() -> tuple[UpstreamResponse, _Conn]:
    conn = _Conn()
    return UpstreamResponse(conn, reused=False, loop=asyncio.get_running_loop()), conn


async def test_bytes_read_while_pushing_go_to_the_sink_in_order_and_the_end_returns_false() -> None:
    resp, _ = _response()
    resp._feed(b"buffered ")
    sink = _Sink()
    pushing = asyncio.ensure_future(resp.push(sink))
    await asyncio.sleep(0)
    for part in (b"a", b"b", b"c"):
        resp._feed(part)
    assert sink.taken == [b"buffered ", b"a", b"b", b"c"]  # taken in the read callback itself
    resp._finish()
    assert await pushing is False


async def test_a_sink_that_stops_gets_the_rest_from_the_buffer_on_the_next_push() -> None:
    resp, _ = _response()
    sink = _Sink(stop_after=1)
    pushing = asyncio.ensure_future(resp.push(sink))
    await asyncio.sleep(0)
    resp._feed(b"one")
    resp._feed(b"two")  # the sink stopped: buffered
    assert await pushing is True
    sink.stop_after = None
    resp._feed(b"three")
    resp._finish()
    assert await resp.push(sink) is False
    assert sink.taken == [b"one", b"twothree"]


async def test_what_the_sink_raises_is_raised_by_push() -> None:
    resp, _ = _response()
    pushing = asyncio.ensure_future(resp.push(_Sink(fail_on=b"bad")))
    await asyncio.sleep(0)
    resp._feed(b"bad")
    with pytest.raises(ValueError, match="refused"):
        await pushing


async def test_a_body_that_fails_while_pushing_raises_its_error() -> None:
    resp, _ = _response()
    pushing = asyncio.ensure_future(resp.push(_Sink()))
    await asyncio.sleep(0)
    resp._fail(UpstreamProtocolError("reset by the upstream"))
    with pytest.raises(UpstreamProtocolError):
        await pushing


async def test_a_buffer_that_paused_the_connection_resumes_it_when_pushed() -> None:
    resp, conn = _response()
    resp._feed(b"x" * (HIGH_WATER + 1))
    assert conn.paused
    sink = _Sink()
    pushing = asyncio.ensure_future(resp.push(sink))
    await asyncio.sleep(0)
    assert not conn.paused and len(sink.taken[0]) == HIGH_WATER + 1
    resp._finish()
    assert await pushing is False


async def test_a_cancelled_push_leaves_later_bytes_in_the_buffer() -> None:
    resp, _ = _response()
    sink = _Sink()
    pushing = asyncio.ensure_future(resp.push(sink))
    await asyncio.sleep(0)
    pushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pushing
    resp._feed(b"later")
    assert sink.taken == [] and resp.complete_body() is None


async def test_a_response_whose_head_was_acted_on_lets_its_headers_go_and_still_relays() -> None:
    resp, _ = _response()
    resp.headers = [(b"content-type", b"text/event-stream")]
    resp.release_head()
    assert resp.headers == [] and resp.header(b"content-type") is None
    resp._feed(b"data: 1\n\n")
    sink = _Sink()
    pushing = asyncio.ensure_future(resp.push(sink))
    await asyncio.sleep(0)
    resp._finish()
    assert await pushing is False and sink.taken == [b"data: 1\n\n"]
