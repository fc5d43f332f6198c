"""The locks of the shared segments, both kinds: exclusive across processes, and a holder
that dies does not hold its lock for ever. A segment's kind is what every process uses."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

import pytest

from ferrogate.governance.counter_table import CounterTable
from ferrogate.ipc import shm_locks
from ferrogate.ipc.shm_locks import FCNTL, MUTEX, SegmentLocks, open_locks

KINDS = [
    FCNTL,
    pytest.param(
        MUTEX,
        marks=pytest.mark.skipif(not shm_locks.native_locks_built(), reason="native mutexes not built (make compiled)"),
    ),
]
_LOCK = 128
_COUNTER = 0  # int64 field the children increment under the lock


@pytest.fixture(params=KINDS, ids=["fcntl", "mutex"])
def segment(request: pytest.FixtureRequest) -> Iterator[tuple[int, mmap.mmap, SegmentLocks]]:
    fd = os.memfd_create("test-locks", os.MFD_CLOEXEC)
    os.ftruncate(fd, 4096)
    mapping = mmap.mmap(fd, 4096)
    locks = open_locks(request.param, fd, mapping)
    locks.create(_LOCK)
    yield fd, mapping, locks
    locks.release()
    mapping.close()
    os.close(fd)


def _children(count: int, work: object) -> list[int]:
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                work()  # type: ignore[operator]
            finally:
                os._exit(0)
        pids.append(pid)
    return pids


def test_increments_under_the_lock_from_four_processes_are_never_lost(
    segment: tuple[int, mmap.mmap, SegmentLocks],
) -> None:
    _, mapping, locks = segment
    fields = memoryview(mapping).cast("q")

    def work() -> None:
        for _ in range(5000):
            locks.lock(_LOCK)
            value = fields[_COUNTER]  # a read-modify-write that loses updates without the lock
            sum(range(20))  # widen the window another process could write in
            fields[_COUNTER] = value + 1
            locks.unlock(_LOCK)

    for pid in _children(4, work):
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    assert fields[_COUNTER] == 20000
    fields.release()


def test_a_lock_whose_holder_died_is_taken_by_the_next_locker(segment: tuple[int, mmap.mmap, SegmentLocks]) -> None:
    _, _, locks = segment

    def die_holding() -> None:
        locks.lock(_LOCK)
        os._exit(0)  # never unlocks

    (pid,) = _children(1, die_holding)
    os.waitpid(pid, 0)
    recovered = locks.lock(_LOCK)  # returns instead of waiting for ever
    locks.unlock(_LOCK)
    # A mutex says its holder died; a record lock was simply dropped by the kernel.
    assert recovered is not isinstance(locks, shm_locks.FcntlLocks)


def test_a_table_made_with_native_mutexes_is_refused_by_a_build_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    if not shm_locks.native_locks_built():
        pytest.skip("native mutexes not built (make compiled)")
    monkeypatch.delenv("FERROGATE_PURE", raising=False)
    table = CounterTable.create(64)
    handed = os.dup(table.fd)
    try:
        monkeypatch.setattr(shm_locks, "MutexArray", None)
        with pytest.raises(ValueError, match="native mutexes, but this build has none"):
            CounterTable(handed)
    finally:
        os.close(handed)
        table.close()


def test_pure_python_makes_tables_with_record_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROGATE_PURE", "1")
    table = CounterTable.create(64)
    try:
        assert isinstance(table.locks, shm_locks.FcntlLocks)
    finally:
        table.close()
