"""Load balancing policies and passive health checks across several upstreams."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from ferrogate._fastpath.pool import Origin, UpstreamPool
from ferrogate.config.model import Config
from ferrogate.proxy.balancer import Balancer, Target
from tests.proxy.gateway import gateway, make_config
from tests.proxy.upstreams import TestUpstream, UpConn, UpRequest

pytestmark = pytest.mark.anyio


def named(name: bytes):  # type: ignore[no-untyped-def]
    async def handler(req: UpRequest, conn: UpConn) -> None:
        await conn.respond(200, [], name)

    return handler


def lb_config(urls: list[str], policy: str, **health: float) -> Config:
    up: dict[str, object] = {"name": "pool", "urls": urls, "lb_policy": policy}
    if health:
        up["health"] = health
    return make_config(upstreams=[up], routes=[{"upstream": "pool"}])


async def test_round_robin_alternates_between_upstreams() -> None:
    async with (
        TestUpstream(named(b"a")) as a,
        TestUpstream(named(b"b")) as b,
        gateway(lb_config([a.url, b.url], "round_robin")) as gw,
        httpx.AsyncClient(base_url=gw.url) as c,
    ):
        seen = [(await c.get("/")).text for _ in range(6)]
    assert seen == ["a", "b"] * 3


async def test_least_conn_avoids_the_busy_upstream() -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    def handler(name: bytes):  # type: ignore[no-untyped-def]
        async def h(req: UpRequest, conn: UpConn) -> None:
            if req.target == b"/slow":
                arrived.set()
                await release.wait()
            await conn.respond(200, [], name)

        return h

    async with (
        TestUpstream(handler(b"a")) as a,
        TestUpstream(handler(b"b")) as b,
        gateway(lb_config([a.url, b.url], "least_conn")) as gw,
        httpx.AsyncClient(base_url=gw.url) as c,
    ):
        slow = asyncio.ensure_future(c.get("/slow"))
        await asyncio.wait_for(arrived.wait(), 5)
        busy = "a" if a.requests else "b"
        fast = [(await c.get("/fast")).text for _ in range(4)]
        release.set()
        assert (await slow).text == busy
    assert fast == ["b" if busy == "a" else "a"] * 4


async def test_failing_upstream_is_taken_out_for_its_cooldown() -> None:
    broken = socket.socket()
    broken.bind(("127.0.0.1", 0))
    broken.listen(16)
    broken.setblocking(False)
    loop = asyncio.get_running_loop()
    accepted: list[socket.socket] = []

    def on_accept() -> None:
        try:
            conn, _ = broken.accept()
        except BlockingIOError:
            return
        accepted.append(conn)
        conn.close()  # answers nothing: a broken upstream

    loop.add_reader(broken.fileno(), on_accept)
    try:
        broken_url = f"http://127.0.0.1:{broken.getsockname()[1]}"
        async with TestUpstream(named(b"good")) as good:
            cfg = lb_config([broken_url, good.url], "first", max_fails=1, cooldown_secs=30)
            async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
                first = await c.get("/")
                later = [(await c.get("/")).text for _ in range(3)]
        assert first.status_code == 502
        assert first.json()["error"]["code"] in (
            "upstream_protocol_error",
            "upstream_connect_error",
        )
        assert later == ["good"] * 3
        assert len(accepted) == 1  # not tried again while cooling down
    finally:
        loop.remove_reader(broken.fileno())
        broken.close()


async def test_connect_failure_moves_on_to_the_next_upstream() -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, not listening: refused
    try:
        async with TestUpstream(named(b"alive")) as alive:
            cfg = lb_config([f"http://127.0.0.1:{dead.getsockname()[1]}", alive.url], "first")
            async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
                r = await c.get("/")
        assert (r.status_code, r.text) == (200, "alive")
    finally:
        dead.close()


async def test_all_upstreams_down_is_503() -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    try:
        cfg = lb_config(
            [f"http://127.0.0.1:{dead.getsockname()[1]}"], "first", max_fails=1, cooldown_secs=30
        )
        async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
            assert (await c.get("/")).status_code == 502
            r = await c.get("/")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "no_healthy_upstream"
    finally:
        dead.close()


def _targets(n: int) -> list[Target]:
    """Targets on real (never connected) pools: the balancer only reads their host header."""
    return [Target(f"http://t{i}", UpstreamPool(Origin("http", f"t{i}", 1))) for i in range(n)]


def test_cooldown_ends_after_its_time() -> None:
    t = _targets(1)
    bal = Balancer(t, "round_robin", max_fails=2, cooldown_secs=10)
    bal.failed(t[0], now=100.0)
    assert bal.pick(100.0) is t[0]  # one failure of two allowed
    bal.failed(t[0], now=100.0)
    assert bal.pick(105.0) is None
    assert bal.pick(110.0) is t[0]


def test_success_resets_the_failure_count() -> None:
    t = _targets(1)
    bal = Balancer(t, "first", max_fails=2, cooldown_secs=10)
    bal.failed(t[0], 0.0)
    bal.succeeded(t[0])
    bal.failed(t[0], 0.0)
    assert bal.pick(1.0) is t[0]


def test_random_policy_only_picks_healthy_targets() -> None:
    import random

    t = _targets(3)
    bal = Balancer(t, "random", max_fails=1, cooldown_secs=10, rng=random.Random(7))
    bal.failed(t[1], 0.0)
    picks = {bal.pick(1.0) for _ in range(50)}
    assert picks == {t[0], t[2]}
