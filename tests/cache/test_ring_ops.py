"""The answer cache's C ``get`` and ``put`` (``_ring_ops``) sharing a segment with the Python
ones, and waiting on its mutexes like ``MutexArray`` does."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ferrogate.cache import shm_store
from ferrogate.cache.key import cache_key
from ferrogate.cache.shm_store import ShmCache
from ferrogate.ipc.shm_locks import MUTEX, native_locks_built

pytestmark = pytest.mark.skipif(
    not (native_locks_built() and shm_store._NATIVE_LAYOUT), reason="_ring_ops not built (make compiled)"
)
_ONLY_BUCKET_LOCK = 4096  # byte offset of bucket 0's lock: the header's 4 KiB come first


def _key(tenant: str) -> bytes:
    return cache_key(tenant, "chat", "m", "p", "pm", b"{}")


@pytest.fixture
def native(monkeypatch: pytest.MonkeyPatch) -> ShmCache:
    monkeypatch.setattr(shm_store, "kind_for_new_segment", lambda: MUTEX)
    cache = ShmCache.create(max_records=8, max_bytes=64 * 1024)  # one bucket, 8 KiB stretches
    assert cache.native
    return cache


def test_the_python_code_reads_what_the_c_stored(native: ShmCache) -> None:
    python = ShmCache(native.fd, native=False)
    native.put(_key("a"), b"from C", now_ms=0, ttl_ms=1000)
    assert python.get(_key("a"), now_ms=1) == b"from C"


def test_the_c_reads_what_the_python_code_stored(native: ShmCache) -> None:
    python = ShmCache(native.fd, native=False)
    python.put(_key("a"), b"from Python", now_ms=0, ttl_ms=1000)
    assert native.get(_key("a"), now_ms=1) == b"from Python"


def test_the_c_evicts_what_the_python_code_used_least_recently(native: ShmCache) -> None:
    python = ShmCache(native.fd, native=False)
    for i in range(8):
        python.put(_key(str(i)), b"v%d" % i, now_ms=i, ttl_ms=10_000)
    assert python.get(_key("0"), now_ms=100) == b"v0"  # its last use, as the C must see it
    native.put(_key("8"), b"v8", now_ms=101, ttl_ms=10_000)
    assert python.get(_key("1"), now_ms=102) is None
    assert python.get(_key("0"), now_ms=102) == b"v0"


def test_stretches_the_c_and_the_python_code_take_never_overlap(native: ShmCache) -> None:
    python = ShmCache(native.fd, native=False)
    values = {}
    for i in range(6):  # 3 KB each: every stretch is shared by two answers
        writer = native if i % 2 else python
        values[str(i)] = bytes([65 + i]) * 3000
        writer.put(_key(str(i)), values[str(i)], now_ms=0, ttl_ms=10_000)
    assert {tenant: native.get(_key(tenant), now_ms=1) for tenant in values} == values


def test_a_bucket_whose_lock_holder_died_is_served(native: ShmCache) -> None:
    native.put(_key("a"), b"kept", now_ms=0, ttl_ms=10_000)
    pid = os.fork()
    if pid == 0:
        native.locks.lock(_ONLY_BUCKET_LOCK)
        os._exit(0)  # never unlocks
    os.waitpid(pid, 0)
    assert native.get(_key("a"), now_ms=1) == b"kept"


def test_a_get_waiting_on_a_busy_bucket_lets_other_threads_run(native: ShmCache) -> None:
    native.put(_key("a"), b"kept", now_ms=0, ttl_ms=10_000)
    got: list[bytes | None] = []
    native.locks.lock(_ONLY_BUCKET_LOCK)
    waiter = threading.Thread(target=lambda: got.append(native.get(_key("a"), now_ms=1)))
    waiter.start()
    time.sleep(0.05)  # the waiter is in the mutex now; this thread runs only if it let the GIL go
    assert got == []
    native.locks.unlock(_ONLY_BUCKET_LOCK)
    waiter.join(5)
    assert got == [b"kept"]


def test_a_digest_of_other_than_16_bytes_is_refused(native: ShmCache) -> None:
    with pytest.raises(ValueError):
        native.get(b"short", now_ms=0)


def test_answers_got_while_c_and_python_processes_write_are_never_torn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shm_store, "kind_for_new_segment", lambda: MUTEX)
    segment = ShmCache.create(max_records=64, max_bytes=64 * 1024)  # the ring comes round every ~20 answers

    def work(seed: int, native: bool) -> None:
        cache = ShmCache(segment.fd, native=native)
        for i in range(3000):
            digest = _key(str((i * 7 + seed) % 40))
            if i % 3:
                got = cache.get(digest, now_ms=1)
                if got is not None and got != digest * (len(got) // 16):
                    os._exit(1)  # bytes of another answer
            else:
                cache.put(digest, digest * (10 + (i * 131 + seed) % 400), now_ms=0, ttl_ms=10_000)

    pids = []
    for seed in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                work(seed, native=seed % 2 == 0)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("reader_native", [True, False], ids=["c-reader", "python-reader"])
def test_an_answer_whose_bytes_were_written_over_behind_the_cursor_is_a_miss(native: ShmCache, reader_native: bool) -> None:
    # A writer held up past its stretch's turn writes over a newer answer without moving the
    # cursor; the reader finds the bytes no longer match the answer's checksum.
    native.put(_key("a"), b"the stored answer", now_ms=0, ttl_ms=10_000)
    at = native._arena_at  # the first stretch starts at the ring's start
    native._map[at : at + 3] = b"XXX"
    reader = native if reader_native else ShmCache(native.fd, native=False)
    assert reader.get(_key("a"), now_ms=1) is None
