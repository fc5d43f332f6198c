"""The answer cache in cluster mode: the nodes' Redis (the one ``cluster.redis_url`` names).

The cache is not a guard: when Redis cannot answer, a lookup is a miss and a store is
skipped, and the request goes on to its provider.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ferrogate.ipc.redis_client import RedisClient, RedisReplyError, RedisUnavailable

log = logging.getLogger("ferrogate.cache")

_PREFIX = b"fgc:"
_FAILURES = (RedisUnavailable, RedisReplyError, OSError)


class RedisCache:
    __slots__ = ("_client", "_pending", "errors", "largest")

    def __init__(self, url: str, largest: int) -> None:
        self.largest = largest
        self.errors = 0  # lookups and stores Redis failed (each one a miss or a skipped store)
        # Short timeouts: a slow cache costs every request its wait, and a miss costs nothing.
        self._client = RedisClient(url, timeout=0.5, connect_timeout=0.5)
        self._pending: set[asyncio.Task[bool]] = set()  # stores waiting for a connection

    async def get(self, digest: bytes) -> bytes | None:
        try:
            value = await self._client.call(b"GET", _PREFIX + digest)
        except _FAILURES as exc:
            self._failed(exc)
            return None
        return value if isinstance(value, bytes) else None

    def fetch(self, digest: bytes) -> asyncio.Future[Any] | None:
        """Send a lookup without waiting (None when not connected now); :meth:`answer` reads it."""
        sent = self._client.send(b"GET", _PREFIX + digest)
        if sent is not None:
            sent.add_done_callback(self._count_failure)  # a failure is counted even if nobody waits
        return sent

    async def answer(self, sent: asyncio.Future[Any]) -> bytes | None:
        """The value a :meth:`fetch` found (None: none, or Redis failed, counted already)."""
        try:
            value = await sent
        except _FAILURES:
            return None
        return value if isinstance(value, bytes) else None

    async def put(self, digest: bytes, value: bytes, ttl_ms: int) -> bool:
        if len(value) > self.largest:
            return False
        try:
            await self._client.call(b"SET", _PREFIX + digest, value, b"PX", ttl_ms)
        except _FAILURES as exc:
            self._failed(exc)
            return False
        return True

    def store(self, digest: bytes, value: bytes, ttl_ms: int) -> None:
        """Store without waiting (the answer has gone out already); a failure is counted."""
        if len(value) > self.largest:
            return
        sent = self._client.send(b"SET", _PREFIX + digest, value, b"PX", ttl_ms)
        if sent is None:  # not connected yet: connect on the way
            task = asyncio.get_running_loop().create_task(self.put(digest, value, ttl_ms))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return
        sent.add_done_callback(self._count_failure)

    def _count_failure(self, done: asyncio.Future[object]) -> None:
        exc = done.exception()
        if exc is not None:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 1000 == 0:
            log.warning("the answer cache's Redis failed (%s); %d lookups or stores missed so far", type(exc).__name__, self.errors)
