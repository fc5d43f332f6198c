"""The answer cache in cluster mode: the nodes' Redis (the one ``cluster.redis_url`` names).

The cache is not a guard: when Redis cannot answer, a lookup is a miss and a store is
skipped, and the request goes on to its provider.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("ferrogate.cache")

_PREFIX = b"fgc:"


class RedisCache:
    __slots__ = ("_client", "errors", "largest", "url")

    def __init__(self, url: str, largest: int) -> None:
        self.url = url
        self.largest = largest
        self.errors = 0  # lookups and stores Redis failed (each one a miss or a skipped store)
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:  # made on first use, inside the worker's event loop
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=32, timeout=0.5, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._client = aioredis.Redis(connection_pool=pool)
        return self._client

    async def get(self, digest: bytes) -> bytes | None:
        try:
            value = await self._redis().get(_PREFIX + digest)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        return bytes(value) if value is not None else None

    async def put(self, digest: bytes, value: bytes, ttl_ms: int) -> bool:
        if len(value) > self.largest:
            return False
        try:
            await self._redis().set(_PREFIX + digest, value, px=ttl_ms)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return False
        return True

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 1000 == 0:
            log.warning("the answer cache's Redis failed (%s); %d lookups or stores missed so far", type(exc).__name__, self.errors)
