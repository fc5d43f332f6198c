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


_CONFIG = """
[cluster]
counter_backend = "redis"
redis_url = "{redis_url}"

[cache]
enabled = true

[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{base_url}"
api_key = "sk-upstream"

[[models]]
name = "cached"
provider = "up"
provider_model = "gpt-up"
cache_enabled = true
"""

# A key with a limit: its requests are admitted by the Redis script, and their cache lookup is
# sent beside the admission (one round trip for both).
_LIMITED_KEY = """
[[api_keys]]
id = "limited"
key = "sk-limited-client"
request_limit_per_minute = 1000
"""


def _share_answers(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory, keys: str, client_key: str) -> None:
    loop = LoopThread()
    upstream = MockOpenAI()
    loop.run(upstream.start())
    config = _CONFIG.format(redis_url=redis_server.url, base_url=upstream.base_url) + keys
    nodes: list[Gateway] = []
    try:
        for name in ("a", "b"):
            gw = start_gateway(config, "toml", workers=1, directory=tmp_path_factory.mktemp(f"cache-{name}"))
            nodes.append(gw)
            gw.wait_ready(DEFAULT_READY_SECS)

        def ask(gw: Gateway) -> str:
            client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=client_key, max_retries=0)
            raw = client.chat.completions.with_raw_response.create(
                model="cached", messages=[{"role": "user", "content": "across nodes"}]
            )
            return str(raw.headers["x-ferrogate-cache"])

        assert ask(nodes[0]) == "miss"
        with redis.Redis(unix_socket_path=str(redis_server.socket)) as r:  # the store runs after the answer
            wait_until(lambda: r.keys("fgc:*"), 10, "node a's answer in Redis")
        sent = len(upstream.requests)
        assert ask(nodes[1]) == "hit"
        assert ask(nodes[0]) == "hit"
        assert len(upstream.requests) == sent
    finally:
        for gw in nodes:
            gw.stop()
        loop.run(upstream.stop())
        loop.close()


def test_two_nodes_share_answers_through_redis(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    _share_answers(redis_server, tmp_path_factory, "", "none")


def test_a_limited_keys_lookup_goes_out_beside_its_admission_and_finds_the_answer(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _share_answers(redis_server, tmp_path_factory, _LIMITED_KEY, "sk-limited-client")
