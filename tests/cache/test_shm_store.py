"""The node-shared answer cache, on both of its paths: ``get`` and ``put`` in C (``_ring_ops``,
on a segment whose locks are mutexes) and in Python (here on a segment with fcntl locks)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from ferrogate.cache import shm_store
from ferrogate.cache.key import cache_key
from ferrogate.cache.shm_store import ShmCache
from ferrogate.ipc.shm_locks import FCNTL, MUTEX, native_locks_built

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
NATIVE_BUILT = native_locks_built() and shm_store._NATIVE_LAYOUT

MakeCache = Callable[[int, int], ShmCache]


def _key(body: bytes = BODY, tenant: str | None = "t", model: str = "m", provider: str = "p") -> bytes:
    return cache_key(tenant, "chat", model, provider, "pm", body)


@pytest.fixture(
    params=[pytest.param("native", marks=pytest.mark.skipif(not NATIVE_BUILT, reason="_ring_ops not built")), "pure"]
)
def make(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> MakeCache:
    """``make(max_records, max_bytes)``: a new segment served by the path the test runs on."""
    native = request.param == "native"
    monkeypatch.setattr(shm_store, "kind_for_new_segment", lambda: MUTEX if native else FCNTL)

    def create(max_records: int, max_bytes: int) -> ShmCache:
        cache = ShmCache.create(max_records, max_bytes)
        assert cache.native is native
        return cache

    return create


def test_an_answer_put_is_got_until_it_expires(make: MakeCache) -> None:
    cache = make(64, 1 << 20)
    assert cache.put(_key(), b"answer", now_ms=1000, ttl_ms=500)
    assert cache.get(_key(), now_ms=1499) == b"answer"
    assert cache.get(_key(), now_ms=1500) is None


def test_a_second_put_of_a_key_replaces_its_answer(make: MakeCache) -> None:
    cache = make(64, 1 << 20)
    cache.put(_key(), b"old", now_ms=0, ttl_ms=1000)
    cache.put(_key(), b"new", now_ms=1, ttl_ms=1000)
    assert cache.get(_key(), now_ms=2) == b"new"
    assert cache.records(now_ms=2) == 1


def test_a_full_bucket_evicts_its_least_recently_used_answer(make: MakeCache) -> None:
    cache = make(8, 1 << 20)  # one bucket of 8 ways
    keys = [_key(tenant=str(i)) for i in range(9)]
    for i, key in enumerate(keys[:8]):
        cache.put(key, b"v%d" % i, now_ms=i, ttl_ms=10_000)
    assert cache.get(keys[0], now_ms=100) == b"v0"  # used again: now the most recent
    cache.put(keys[8], b"v8", now_ms=101, ttl_ms=10_000)
    assert cache.get(keys[1], now_ms=102) is None  # the least recently used went
    assert cache.get(keys[0], now_ms=102) == b"v0"
    assert cache.get(keys[8], now_ms=102) == b"v8"
    assert cache.records(now_ms=102) == 8


def test_a_full_bucket_takes_an_expired_way_before_the_least_recently_used(make: MakeCache) -> None:
    cache = make(8, 1 << 20)
    keys = [_key(tenant=str(i)) for i in range(9)]
    for i, key in enumerate(keys[:8]):
        cache.put(key, b"v%d" % i, now_ms=i, ttl_ms=50 if i == 5 else 10_000)  # keys[5] expires at 55
    cache.put(keys[8], b"v8", now_ms=100, ttl_ms=10_000)
    assert cache.get(keys[0], now_ms=101) == b"v0"  # the least recently used stays
    assert cache.get(keys[8], now_ms=101) == b"v8"
    assert cache.records(now_ms=101) == 8


def test_answers_the_ring_has_run_over_are_gone(make: MakeCache) -> None:
    cache = make(1024, 64 * 1024)  # answers up to 8 KiB
    value = b"x" * 8000
    for i in range(20):
        assert cache.put(_key(tenant=str(i)), value, now_ms=0, ttl_ms=10_000)
    assert cache.get(_key(tenant="0"), now_ms=1) is None
    assert cache.get(_key(tenant="19"), now_ms=1) == value


def test_a_stretch_others_ran_half_a_ring_past_is_given_up(make: MakeCache) -> None:
    mine = make(1024, 64 * 1024)  # stretches of 8 KiB
    others = ShmCache(mine.fd, native=mine.native)  # another process's stretches of the same ring
    mine.put(_key(tenant="first"), b"a", now_ms=0, ttl_ms=10_000)  # takes the stretch at 0
    for i in range(5):  # one 8000-byte answer a stretch: the cursor ends at 48 KiB
        others.put(_key(tenant=str(i)), b"o" * 8000, now_ms=0, ttl_ms=10_000)
    mine.put(_key(tenant="mine"), b"mine", now_ms=0, ttl_ms=10_000)  # not at 1 in its first stretch
    for i in range(5, 8):  # the ring comes round over bytes 0 .. 8 KiB
        others.put(_key(tenant=str(i)), b"o" * 8000, now_ms=0, ttl_ms=10_000)
    assert mine.get(_key(tenant="mine"), now_ms=1) == b"mine"


def test_an_answer_over_an_eighth_of_the_memory_is_not_stored(make: MakeCache) -> None:
    cache = make(64, 64 * 1024)
    assert not cache.put(_key(), b"x" * (cache.largest + 1), now_ms=0, ttl_ms=1000)
    assert cache.get(_key(), now_ms=1) is None


def test_an_answer_of_exactly_an_eighth_of_the_memory_is_stored(make: MakeCache) -> None:
    cache = make(64, 64 * 1024)
    assert cache.put(_key(), b"x" * cache.largest, now_ms=0, ttl_ms=1000)
    assert cache.get(_key(), now_ms=1) == b"x" * cache.largest


def test_an_empty_answer_is_not_stored(make: MakeCache) -> None:
    cache = make(64, 1 << 20)
    assert not cache.put(_key(), b"", now_ms=0, ttl_ms=1000)
    assert cache.records(now_ms=1) == 0


def test_a_forked_process_sees_what_another_stored(make: MakeCache) -> None:
    cache = make(64, 1 << 20)
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
