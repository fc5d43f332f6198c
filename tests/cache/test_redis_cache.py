"""The answer cache in cluster mode: two gateway nodes share answers through a real redis-server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest
import redis

from ferrogate.cache.redis_store import RedisCache
from tests.ai.conftest import LoopThread
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mock_openai import MockOpenAI
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e


def test_a_stored_answer_is_read_back_until_its_ttl(redis_server: RedisServer) -> None:
    async def go() -> tuple[bytes | None, bytes | None]:
        cache = RedisCache(redis_server.url, largest=1024)
        await cache.put(b"k" * 16, b"answer", ttl_ms=60_000)
        return await cache.get(b"k" * 16), await cache.get(b"x" * 16)

    assert asyncio.run(go()) == (b"answer", None)


def test_an_unreachable_redis_is_a_miss_not_an_error(tmp_path: Path) -> None:
    async def go() -> tuple[bytes | None, bool, int]:
        cache = RedisCache(f"unix://{tmp_path}/none.sock", largest=1024)
        return await cache.get(b"k" * 16), await cache.put(b"k" * 16, b"v", 1000), cache.errors

    assert asyncio.run(go()) == (None, False, 2)


def test_two_nodes_share_answers_through_redis(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    loop = LoopThread()
    upstream = MockOpenAI()
    loop.run(upstream.start())
    config = f"""
[cluster]
counter_backend = "redis"
redis_url = "{redis_server.url}"

[cache]
enabled = true

[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{upstream.base_url}"
api_key = "sk-upstream"

[[models]]
name = "cached"
provider = "up"
provider_model = "gpt-up"
cache_enabled = true
"""
    nodes: list[Gateway] = []
    try:
        for name in ("a", "b"):
            gw = start_gateway(config, "toml", workers=1, directory=tmp_path_factory.mktemp(f"cache-{name}"))
            nodes.append(gw)
            gw.wait_ready(DEFAULT_READY_SECS)

        def ask(gw: Gateway) -> str:
            client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key="none", max_retries=0)
            raw = client.chat.completions.with_raw_response.create(
                model="cached", messages=[{"role": "user", "content": "across nodes"}]
            )
            return str(raw.headers["x-ferrogate-cache"])

        assert ask(nodes[0]) == "miss"
        with redis.Redis(unix_socket_path=str(redis_server.socket)) as r:  # the store runs after the answer
            wait_until(lambda: r.keys("fgc:*"), 10, "node a's answer in Redis")
        sent = len(upstream.requests)
        assert ask(nodes[1]) == "hit"
        assert len(upstream.requests) == sent
    finally:
        for gw in nodes:
            gw.stop()
        loop.run(upstream.stop())
        loop.close()
