"""What the pipeline asks of the cache, compiled once per config: where answers live, for how
long, and which models may be cached."""

from __future__ import annotations

import logging
from typing import Final

from ferrogate.cache.key import CacheKeys
from ferrogate.cache.redis_store import RedisCache
from ferrogate.cache.shm_store import WAYS, ShmCache
from ferrogate.config.model import Config

log = logging.getLogger("ferrogate.cache")

HIT: Final = b"x-ferrogate-cache: hit\r\n"
MISS: Final = b"x-ferrogate-cache: miss\r\n"
BYPASS: Final = b"x-ferrogate-cache: bypass\r\n"
STATE_PAIRS: Final[dict[bytes, tuple[tuple[bytes, bytes], ...]]] = {
    line: ((b"x-ferrogate-cache", line[len(b"x-ferrogate-cache: ") : -2]),) for line in (HIT, MISS, BYPASS)
}


class AnswerCache:
    __slots__ = ("keys", "local", "models", "remote", "ttl_ms")

    def __init__(self, config: Config, local: ShmCache | None) -> None:
        cluster = config.cluster
        self.ttl_ms = config.cache.ttl_secs * 1000
        self.models = frozenset(m.name for m in config.models if m.cache_enabled)
        self.keys = CacheKeys()  # the requests' cache keys, each identity's part hashed once
        self.remote: RedisCache | None = None
        self.local: ShmCache | None = None
        if cluster.counter_backend == "redis" and cluster.redis_url:
            self.remote = RedisCache(cluster.redis_url, config.cache.max_bytes // 8)
        else:
            self.local = local if local is not None else ShmCache.create(config.cache.max_records, config.cache.max_bytes)

    def store(self, digest: bytes, value: bytes, now_ms: int) -> None:
        if self.local is not None:
            self.local.put(digest, value, now_ms, self.ttl_ms)
        elif self.remote is not None:
            self.remote.store(digest, value, self.ttl_ms)


def compile_cache(config: Config, local: ShmCache | None) -> AnswerCache | None:
    """None when nothing can be cached (``[cache].enabled`` off, or no model enables it)."""
    if not config.cache.enabled or not any(m.cache_enabled for m in config.models):
        return None
    if local is not None and not local.sized_for(config.cache.max_records, config.cache.max_bytes):
        log.warning(
            "cache.max_records / cache.max_bytes changed: the node's cache keeps the sizes it started"
            " with (%d records, %d bytes) until the gateway restarts",
            local.buckets * WAYS, local.arena,
        )
    return AnswerCache(config, local)
