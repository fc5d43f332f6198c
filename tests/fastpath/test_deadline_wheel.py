"""The deadline wheel: one loop timer for every client connection's deadline, firing at or up
to one step after it, and holding no connection that has left it."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from ferrogate._fastpath.deadline_wheel import MAX_STEP, MIN_STEP, DeadlineWheel, step_for
from ferrogate.config.model import Limits
from tests.fastpath.conftest import make_conn, respond_ok

pytestmark = pytest.mark.anyio


class _Conn:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.wheel_slot = 0
        self.calls: list[float] = []
        self.fired = loop.create_future()

    def arm(self, wheel: DeadlineWheel, when: float) -> None:
        """What a connection does: keep the slot the wheel answers."""
        self.wheel_slot = wheel.arm(self, self.wheel_slot, when)

    def deadline_due(self, now: float) -> None:
        self.calls.append(now)
        if not self.fired.done():
            self.fired.set_result(now)


class _Broken(_Conn):
    def deadline_due(self, now: float) -> None:
        raise RuntimeError("a bug in one connection")


async def test_the_step_is_a_quarter_of_the_shortest_timeout_within_bounds() -> None:
    assert step_for(0.4, 30.0) == pytest.approx(0.1)
    assert step_for(300.0, 60.0) == MAX_STEP
    assert step_for(0.001) == MIN_STEP
    assert step_for(0.0, -1.0) == MAX_STEP  # no positive timeout: the widest step


async def test_a_deadline_fires_at_or_at_most_one_step_after_its_moment() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop, 0.02)
    conn = _Conn(loop)
    when = loop.time() + 0.05
    conn.arm(wheel, when)
    fired = await asyncio.wait_for(conn.fired, 2)
    assert when <= fired <= when + 0.02 + 0.015  # one step, and the loop clock's millisecond


async def test_arming_for_a_later_moment_keeps_the_earlier_one() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop, 0.01)
    conn = _Conn(loop)
    soon = loop.time() + 0.03
    conn.arm(wheel, soon)
    conn.arm(wheel, soon + 10)
    assert await asyncio.wait_for(conn.fired, 2) < soon + 1


async def test_arming_answers_the_slot_the_connection_is_armed_for() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop, 0.01)
    conn = _Conn(loop)
    now = loop.time()
    first = wheel.arm(conn, 0, now + 1)
    assert first > 0
    assert wheel.arm(conn, first, now + 5) == first  # later: the earlier slot stays
    earlier = wheel.arm(conn, first, now + 0.5)
    assert 0 < earlier < first and len(wheel) == 1  # moved, not added twice
    wheel.disarm(conn, earlier)


async def test_arming_for_an_earlier_moment_moves_the_connection() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop, 0.01)
    conn = _Conn(loop)
    conn.arm(wheel, loop.time() + 10)
    conn.arm(wheel, loop.time() + 0.03)
    await asyncio.wait_for(conn.fired, 2)
    assert len(wheel) == 0 and conn.calls == [conn.fired.result()]  # fired once, and left the wheel


async def test_a_disarmed_connection_is_not_called_and_not_held() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop, 0.01)
    conn = _Conn(loop)
    gone = weakref.ref(conn)
    conn.arm(wheel, loop.time() + 0.02)
    assert conn.wheel_slot > 0
    wheel.disarm(conn, conn.wheel_slot)
    assert len(wheel) == 0
    del conn
    gc.collect()
    assert gone() is None
    await asyncio.sleep(0.05)


async def test_many_connections_share_one_loop_timer() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop, 0.01)
    conns = [_Conn(loop) for _ in range(1000)]
    base = loop.time()
    for i, conn in enumerate(conns):
        conn.arm(wheel, base + 0.01 + (i % 5) * 0.01)
    await asyncio.wait_for(asyncio.gather(*(c.fired for c in conns)), 5)
    assert all(len(c.calls) == 1 for c in conns) and len(wheel) == 0


async def test_a_failing_connection_does_not_stop_the_others_deadlines() -> None:
    loop = asyncio.get_running_loop()
    wheel = DeadlineWheel(loop, 0.01)
    broken, fine = _Broken(loop), _Conn(loop)
    when = loop.time() + 0.02
    broken.arm(wheel, when)
    fine.arm(wheel, when)
    await asyncio.wait_for(fine.fired, 2)
    assert broken.wheel_slot == 0 and len(wheel) == 0


async def test_a_client_connection_waiting_idle_is_in_the_wheel_and_leaves_it_when_closed() -> None:
    conn = make_conn(respond_ok, Limits(idle_timeout_secs=60, header_timeout_secs=60))
    conn.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    await conn.settle()
    wheel = conn.state.wheel
    assert len(wheel) == 1
    conn.protocol.connection_lost(None)
    assert len(wheel) == 0
