"""A connection's exchanges run in one task, one after another: it waits for the next request
between them, and ends (leaving the server's set of tasks) when the connection closes."""

from __future__ import annotations

import asyncio

import pytest

from ferrogate._fastpath.api import Exchange
from tests.fastpath.conftest import make_conn, parse_responses

pytestmark = pytest.mark.anyio

GET = b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n"


def respond(exchange: Exchange) -> None:
    exchange.respond(200, [(b"content-type", b"text/plain")], exchange.request.target)


async def answer(exchange: Exchange) -> None:
    respond(exchange)


class Handled(list[bytes]):
    """A handler that answers and lists the targets it handled."""

    async def __call__(self, exchange: Exchange) -> None:
        self.append(exchange.request.target)
        respond(exchange)


async def test_keep_alive_requests_on_one_connection_run_in_one_task() -> None:
    tasks: list[asyncio.Task[object] | None] = []

    async def handler(exchange: Exchange) -> None:
        tasks.append(asyncio.current_task())
        respond(exchange)

    conn = make_conn(handler)
    for n in range(3):
        conn.feed(GET % n)
        await conn.settle()
    assert [r.body for r in parse_responses(conn.transport.take(), ["GET"] * 3, eof=False)] == [b"/0", b"/1", b"/2"]
    assert len(tasks) == 3 and tasks[0] is not None
    assert tasks[1] is tasks[0] and tasks[2] is tasks[0]


async def test_a_pipelined_request_starts_after_the_handler_before_it_returns() -> None:
    order: list[str] = []
    go_on = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        target = exchange.request.target.decode()
        order.append("start " + target)
        respond(exchange)
        if target == "/0":
            await go_on.wait()  # work after the response (the response is already out)
        order.append("end " + target)

    conn = make_conn(handler)
    conn.feed(GET % 0 + GET % 1)
    await conn.settle()
    assert order == ["start /0"]
    assert [r.body for r in parse_responses(conn.transport.take(), ["GET"], eof=False)] == [b"/0"]
    go_on.set()
    await conn.settle()
    assert order == ["start /0", "end /0", "start /1", "end /1"]
    assert [r.body for r in parse_responses(conn.transport.take(), ["GET"], eof=False)] == [b"/1"]


async def test_the_connection_task_ends_when_an_idle_connection_closes() -> None:
    conn = make_conn(answer)
    conn.feed(GET % 0)
    await conn.settle()
    (task,) = conn.state.tasks  # waiting for the next request
    assert not task.done()
    conn.protocol.connection_lost(None)
    await conn.settle()
    assert task.done() and not task.cancelled()
    assert conn.state.tasks == set()


async def test_a_request_whose_client_leaves_before_its_handler_starts_is_never_handled() -> None:
    handled = Handled()
    conn = make_conn(handled)
    conn.feed(GET % 0)
    await conn.settle()
    conn.feed(GET % 1)  # handed to the waiting task, which has not woken yet
    conn.protocol.connection_lost(ConnectionResetError())
    await conn.settle()
    assert handled == [b"/0"]
    assert conn.state.tasks == set() and conn.state.inflight == 0


async def test_a_first_request_whose_client_leaves_at_once_leaves_no_task_behind() -> None:
    handled = Handled()
    conn = make_conn(handled)
    conn.feed(GET % 0)  # the task is made; cancelled before its first step
    conn.protocol.connection_lost(ConnectionResetError())
    await conn.settle()
    assert handled == []
    assert conn.state.tasks == set() and conn.state.inflight == 0


async def test_a_pipelined_request_whose_client_leaves_during_the_handler_before_it_is_dropped() -> None:
    handled: list[str] = []
    go_on = asyncio.Event()

    async def handler(exchange: Exchange) -> None:
        target = exchange.request.target.decode()
        handled.append(target)
        respond(exchange)
        if target == "/0":
            await go_on.wait()
            handled.append("tail /0")

    conn = make_conn(handler)
    conn.feed(GET % 0 + GET % 1)
    await conn.settle()
    conn.protocol.connection_lost(ConnectionResetError())  # /1 is waiting for the tail of /0
    go_on.set()
    await conn.settle()
    assert handled == ["/0", "tail /0"]  # the tail ran to its end; /1 never began
    assert conn.state.tasks == set() and conn.state.inflight == 0
