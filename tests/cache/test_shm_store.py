"""The node-shared answer cache and its keys."""

from __future__ import annotations

import os

from ferrogate.cache.key import cache_key
from ferrogate.cache.shm_store import ShmCache

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
SAME_BODY = b'{"messages":[{"content":"hi","role":"user"}],"model":"m"}'


def _key(body: bytes = BODY, tenant: str | None = "t", model: str = "m", provider: str = "p") -> bytes:
    return cache_key(tenant, "chat", model, provider, "pm", body)


def test_key_order_and_whitespace_do_not_change_the_key() -> None:
    assert _key(BODY) == _key(SAME_BODY)


def test_tenant_model_and_provider_each_change_the_key() -> None:
    assert len({_key(), _key(tenant="other"), _key(tenant=None), _key(model="m2"), _key(provider="p2")}) == 5


def test_an_answer_put_is_got_until_it_expires() -> None:
    cache = ShmCache.create(max_records=64, max_bytes=1 << 20)
    assert cache.put(_key(), b"answer", now_ms=1000, ttl_ms=500)
    assert cache.get(_key(), now_ms=1499) == b"answer"
    assert cache.get(_key(), now_ms=1500) is None


def test_a_full_bucket_evicts_its_least_recently_used_answer() -> None:
    cache = ShmCache.create(max_records=8, max_bytes=1 << 20)  # one bucket of 8 ways
    keys = [_key(tenant=str(i)) for i in range(9)]
    for i, key in enumerate(keys[:8]):
        cache.put(key, b"v%d" % i, now_ms=i, ttl_ms=10_000)
    assert cache.get(keys[0], now_ms=100) == b"v0"  # used again: now the most recent
    cache.put(keys[8], b"v8", now_ms=101, ttl_ms=10_000)
    assert cache.get(keys[1], now_ms=102) is None  # the least recently used went
    assert cache.get(keys[0], now_ms=102) == b"v0"
    assert cache.get(keys[8], now_ms=102) == b"v8"
    assert cache.records(now_ms=102) == 8


def test_answers_the_ring_has_run_over_are_gone() -> None:
    cache = ShmCache.create(max_records=1024, max_bytes=64 * 1024)  # answers up to 8 KiB
    value = b"x" * 8000
    for i in range(20):
        assert cache.put(_key(tenant=str(i)), value, now_ms=0, ttl_ms=10_000)
    assert cache.get(_key(tenant="0"), now_ms=1) is None
    assert cache.get(_key(tenant="19"), now_ms=1) == value


def test_an_answer_over_an_eighth_of_the_memory_is_not_stored() -> None:
    cache = ShmCache.create(max_records=64, max_bytes=64 * 1024)
    assert not cache.put(_key(), b"x" * (8 * 1024 + 1), now_ms=0, ttl_ms=1000)
    assert cache.get(_key(), now_ms=1) is None


def test_a_forked_process_sees_what_another_stored() -> None:
    cache = ShmCache.create(max_records=64, max_bytes=1 << 20)
    pid = os.fork()
    if pid == 0:
        cache.put(_key(), b"from the child", now_ms=0, ttl_ms=60_000)
        os._exit(0)
    os.waitpid(pid, 0)
    assert cache.get(_key(), now_ms=1) == b"from the child"


def test_a_config_with_other_sizes_is_told_apart_from_the_segment_it_runs_on(caplog) -> None:  # type: ignore[no-untyped-def]
    from ferrogate.cache.answer_cache import compile_cache
    from ferrogate.config.model import Cache, Config, Model

    segment = ShmCache.create(max_records=64, max_bytes=1 << 20)
    assert segment.sized_for(64, 1 << 20) and not segment.sized_for(128, 1 << 20)
    models = [Model(name="m", provider="p", provider_model="pm", cache_enabled=True)]
    compile_cache(Config(cache=Cache(enabled=True, max_records=128, max_bytes=1 << 20), models=models), segment)
    assert "keeps the sizes it started with (64 records" in caplog.text
