"""Cluster mode: limits and budgets counted in a real redis-server, shared by two gateway nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from ferrogate.config.model import ApiKey, Tenant
from ferrogate.errors import GatewayError
from ferrogate.governance.quotas import QuotaBook
from ferrogate.governance.redis_limiter import RedisLimiter
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

HI = [{"role": "user", "content": "hi"}]


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_redis_counters_admit_exactly_the_request_limit(redis_server: RedisServer) -> None:
    book = QuotaBook([ApiKey(id="k", key="x", request_limit_per_minute=3)], [])

    async def go() -> list[bool]:
        lim = RedisLimiter(redis_server.url, book)
        outcomes = []
        for _ in range(5):
            try:
                await lim.admit(book.by_key["k"], 1, 0)
                outcomes.append(True)
            except GatewayError as exc:
                assert exc.code == "rate_limit_exceeded"
                outcomes.append(False)
        await lim.close()
        return outcomes

    assert _run(go()) == [True, True, True, False, False]


def test_redis_settlement_releases_the_reservation_and_spends_the_usage(redis_server: RedisServer) -> None:
    book = QuotaBook([ApiKey(id="k", key="x", daily_token_budget=100)], [])

    async def go() -> None:
        lim = RedisLimiter(redis_server.url, book)
        ticket = await lim.admit(book.by_key["k"], 90, 0)
        with pytest.raises(GatewayError):
            await lim.admit(book.by_key["k"], 20, 0)
        lim.settle(ticket, 30, 0)
        await lim.close()  # waits for the settlement
        lim = RedisLimiter(redis_server.url, book)
        await lim.admit(book.by_key["k"], 70, 0)
        with pytest.raises(GatewayError) as refused:
            await lim.admit(book.by_key["k"], 1, 0)
        assert refused.value.code == "budget_exceeded"
        await lim.close()

    _run(go())


def test_redis_tenant_limits_are_shared_by_its_keys(redis_server: RedisServer) -> None:
    book = QuotaBook(
        [ApiKey(id="a", key="x", tenant="t"), ApiKey(id="b", key="y", tenant="t")],
        [Tenant(id="t", request_limit_per_minute=2)],
    )

    async def go() -> None:
        lim = RedisLimiter(redis_server.url, book)
        await lim.admit(book.by_key["a"], 1, 0)
        await lim.admit(book.by_key["b"], 1, 0)
        with pytest.raises(GatewayError) as refused:
            await lim.admit(book.by_key["a"], 1, 0)
        assert "tenant 't'" in refused.value.message
        await lim.close()

    _run(go())


def test_an_unreachable_redis_fails_closed(tmp_path: Path) -> None:
    book = QuotaBook([ApiKey(id="k", key="x", request_limit_per_minute=3)], [])

    async def go() -> None:
        lim = RedisLimiter(f"unix://{tmp_path}/nobody.sock", book)
        with pytest.raises(GatewayError) as refused:
            await lim.admit(book.by_key["k"], 1, 0)
        assert refused.value.status == 503 and refused.value.code == "governance_backend_unavailable"
        assert "nobody.sock" not in refused.value.message
        await lim.close()

    _run(go())


# ---------------------------------------------------------------- two nodes, one Redis

def _config(url: str) -> str:
    return f"""
[cluster]
counter_backend = "redis"
redis_url = "{url}"

[[providers]]
name = "mock"
kind = "mock"
mock = {{ prompt_tokens = 10, completion_tokens = 16, latency_ms = 10 }}

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[api_keys]]
id = "rpm60"
key = "sk-rpm60"
request_limit_per_minute = 60

[[api_keys]]
id = "budget"
key = "sk-budget"
daily_token_budget = 1500

[[api_keys]]
id = "free"
key = "sk-free"

[[api_keys]]
id = "big"
key = "sk-big"
request_limit_per_minute = 1000000000
"""


@pytest.fixture
def two_nodes(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Gateway]]:
    nodes: list[Gateway] = []
    try:
        for name in ("node-a", "node-b"):
            gw = start_gateway(_config(redis_server.url), "toml", workers=2, directory=tmp_path_factory.mktemp(name))
            nodes.append(gw)
            gw.wait_ready(DEFAULT_READY_SECS)
        yield nodes[0], nodes[1]
    finally:
        for gw in nodes:
            gw.stop()


async def _burst(urls: list[str], key: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        body = {"model": "m", "messages": HI, "max_tokens": 20}
        headers = {"authorization": f"Bearer {key}"}
        return await asyncio.gather(
            *(client.post(urls[i % len(urls)] + "/v1/chat/completions", json=body, headers=headers) for i in range(n))
        )


def test_two_nodes_sharing_redis_admit_exactly_sixty_of_two_hundred(two_nodes: tuple[Gateway, Gateway]) -> None:
    a, b = two_nodes
    answers = asyncio.run(_burst([a.base_url, b.base_url], "sk-rpm60", 200))
    statuses = [r.status_code for r in answers]
    # Half the requests go to each node: counters per node would admit 120.
    assert statuses.count(200) == 60 and statuses.count(429) == 140


def test_a_burst_of_concurrent_requests_waits_for_redis_connections_instead_of_failing(
    two_nodes: tuple[Gateway, Gateway],
) -> None:
    answers = asyncio.run(_burst([two_nodes[0].base_url], "sk-big", 300))
    assert [r.status_code for r in answers] == [200] * 300


def test_two_nodes_sharing_redis_never_settle_more_than_the_budget(two_nodes: tuple[Gateway, Gateway]) -> None:
    a, b = two_nodes
    answers = asyncio.run(_burst([a.base_url, b.base_url], "sk-budget", 200))
    ok = [r for r in answers if r.status_code == 200]
    assert ok and len(ok) * 26 <= 1500
    assert all(r.json()["error"]["code"] == "budget_exceeded" for r in answers if r.status_code != 200)


def test_redis_down_fails_closed_and_service_resumes_when_it_returns(
    two_nodes: tuple[Gateway, Gateway], redis_server: RedisServer
) -> None:
    a, _ = two_nodes
    client = openai.OpenAI(base_url=a.base_url + "/v1", api_key="sk-rpm60", max_retries=0)
    client.chat.completions.create(model="m", messages=HI)
    redis_server.stop()
    with pytest.raises(openai.InternalServerError) as refused:
        client.chat.completions.create(model="m", messages=HI)
    assert refused.value.status_code == 503 and refused.value.code == "governance_backend_unavailable"
    # A key without limits needs no counters and keeps working.
    free = openai.OpenAI(base_url=a.base_url + "/v1", api_key="sk-free", max_retries=0)
    assert free.chat.completions.create(model="m", messages=HI).choices[0].message.content
    redis_server.start()

    def admitted() -> bool:
        try:
            client.chat.completions.create(model="m", messages=HI)
        except openai.APIStatusError:
            return False
        return True

    wait_until(admitted, 15, "requests to be admitted again once Redis is back")
