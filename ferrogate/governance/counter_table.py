"""The node's request and token counters: one shared-memory table every worker updates.

A limit split into per-worker shares is not a limit (four workers would admit four
times a key's rate), so the counters live in one ``memfd`` segment that the
supervisor creates before it forks; every worker maps the same pages. Each
subject (an API key or a tenant) owns one slot of int64 fields, found by the
hash of its id with open addressing, so keys added at run time find a slot
without any coordination beyond the table lock.

Updates to a slot happen under that slot's own lock (``ipc.shm_locks``): a robust
process-shared mutex in the slot, 0.07 µs a lock and unlock here, released by the
kernel when a worker dies holding it; or, where the native module is not built, a
POSIX record lock on the slot's bytes (1.5 µs, and every worker's locks go through
one kernel list). On a mutex table, ``ops`` (``_counter_ops.c``) does the limiter's
admit and settle in C, under the same locks. The fd can be handed to a successor
supervisor over the upgrade channel, so a graceful upgrade keeps the same counters.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Iterator
from typing import Final

from ferrogate.ipc.shm_locks import (
    LOCK_BYTES,
    MUTEX,
    SegmentLocks,
    kind_for_new_segment,
    open_locks,
)

try:
    from ferrogate.governance._counter_ops import CounterOps
except ImportError:  # not built: the limiter's own Python does the work
    CounterOps = None  # type: ignore[assignment, misc]

MAGIC: Final = 0x46474354_00000002  # "FGCT", layout 2
_HEADER_BYTES: Final = 4096
FIELDS_PER_SLOT: Final = 32
SLOT_BYTES: Final = FIELDS_PER_SLOT * 8
DEFAULT_CAPACITY: Final = 1 << 16  # 16 MiB of address space; pages are only touched when used
# After the slots: the workers' reservation journals (governance/reservation_journal.py):
# 64 journals of an 8-field head and 2048 entries of 17 fields.
JOURNAL_REGION_FIELDS: Final = 64 * (8 + 2048 * 17)

# Header fields (int64 indexes into the whole table).
_H_MAGIC: Final = 0
_H_CAPACITY: Final = 1
_H_RESTORED: Final = 2  # 1 once saved budgets were loaded into the table (or there were none)
_H_LOCK_KIND: Final = 3  # ipc.shm_locks kind every process uses on this table
_HEADER_LOCK: Final = 64  # byte offset of the lock that guards claiming slots and journals

# Slot fields.
IDENT: Final = 0  # the subject's id hash; 0 = free slot
_SCAN_CHUNK: Final = 4096  # bytes of idents compared with zeros at a time (used_slots)
_ZERO_CHUNK: Final = bytes(_SCAN_CHUNK)
_ZERO_IDENT: Final = bytes(8)
RPM_START: Final = 1  # ms since the epoch when the current request window opened
RPM_COUNT: Final = 2
TPM_START: Final = 3
TPM_TOKENS: Final = 4
BUDGETS: Final = 5  # then (period, spent, reserved) per budget kind, in BudgetKind order
BUDGET_STRIDE: Final = 3
PERIOD: Final = 0
SPENT: Final = 1
RESERVED: Final = 2
SLOT_LOCK: Final = 24  # the slot's lock: fields 24..31 (fields 5..19 are the budgets)
assert SLOT_LOCK * 8 + LOCK_BYTES <= SLOT_BYTES and BUDGETS + 5 * BUDGET_STRIDE <= SLOT_LOCK
HEADER_FIELDS: Final = _HEADER_BYTES // 8  # the first slot's first field


def subject_ident(kind: str, subject_id: str) -> int:
    """A non-zero int64 naming a subject (``kind`` keeps a key and a tenant of one name apart)."""
    digest = hashlib.blake2b(f"{kind}:{subject_id}".encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little", signed=True)
    return value or 1


class CounterTable:
    """A mapped counter segment; ``slot_base`` gives a subject's first field index."""

    __slots__ = ("_map", "capacity", "fd", "fields", "journal", "journal_base", "locks", "ops")

    def __init__(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        self.fd = fd
        self._map = mmap.mmap(fd, size)
        self.fields = memoryview(self._map).cast("q")
        if self.fields[_H_MAGIC] != MAGIC:
            self.fields.release()
            self._map.close()
            raise ValueError("not a FerroGate counter table (or an older layout)")
        try:
            self.locks: SegmentLocks = open_locks(self.fields[_H_LOCK_KIND], fd, self._map)
        except ValueError:
            self.fields.release()
            self._map.close()
            raise
        self.capacity = self.fields[_H_CAPACITY]
        self.journal_base = HEADER_FIELDS + self.capacity * FIELDS_PER_SLOT
        self.journal: object = None  # this process's reservation journal, claimed on first use
        # The limiter's admit and settle in C: on mutex tables, where the module is built.
        native = CounterOps is not None and self.fields[_H_LOCK_KIND] == MUTEX  # limiter_native checks its layout
        self.ops: CounterOps | None = CounterOps(self._map) if native else None

    @classmethod
    def create(cls, capacity: int = DEFAULT_CAPACITY) -> CounterTable:
        """A new, zeroed table (the supervisor's, before it forks; a test's, in-process)."""
        fd = os.memfd_create("ferrogate-counters", os.MFD_CLOEXEC)
        os.ftruncate(fd, _HEADER_BYTES + capacity * SLOT_BYTES + JOURNAL_REGION_FIELDS * 8)
        kind = kind_for_new_segment()
        with mmap.mmap(fd, _HEADER_BYTES) as head:
            fields = memoryview(head).cast("q")
            fields[_H_MAGIC] = MAGIC
            fields[_H_CAPACITY] = capacity
            fields[_H_LOCK_KIND] = kind
            fields.release()
        table = cls(fd)
        table.locks.create(_HEADER_LOCK)
        return table

    @property
    def restored(self) -> bool:
        return self.fields[_H_RESTORED] == 1

    def mark_restored(self) -> None:
        self.fields[_H_RESTORED] = 1

    def slot_base(self, ident: int) -> int:
        """The first field index of ``ident``'s slot, claiming a free one if it has none."""
        capacity = self.capacity
        fields = self.fields
        start = ident % capacity
        for step in range(capacity):
            index = (start + step) % capacity
            base = HEADER_FIELDS + index * FIELDS_PER_SLOT
            found = fields[base + IDENT]
            if found == ident:
                return base
            if found == 0:
                with self.locked_header():
                    found = fields[base + IDENT]
                    if found == 0:
                        self.locks.create((base + SLOT_LOCK) * 8)  # before anyone can find the slot
                        fields[base + IDENT] = ident
                        return base
                    if found == ident:
                        return base
        raise RuntimeError("the counter table is full")

    def lock(self, base: int) -> None:
        self.locks.lock((base + SLOT_LOCK) * 8)

    def unlock(self, base: int) -> None:
        self.locks.unlock((base + SLOT_LOCK) * 8)

    def locked_header(self) -> _HeaderLock:
        return _HeaderLock(self.locks)

    def used_slots(self) -> Iterator[int]:
        """The base of every claimed slot, in order (for snapshots; reads need no lock: int64
        stores are atomic). The idents are copied out as one strided slice and compared 4 KB
        at a time with zeros, so only the chunks holding a claimed slot are looked into: a
        Python loop over the 65,536 slots took 7 ms, every second, in the control process."""
        first = HEADER_FIELDS
        idents = self.fields[first + IDENT : first + self.capacity * FIELDS_PER_SLOT : FIELDS_PER_SLOT].tobytes()
        size = len(idents)
        for start in range(0, size, _SCAN_CHUNK):
            chunk = idents[start : start + _SCAN_CHUNK]
            if chunk == _ZERO_CHUNK[: len(chunk)]:
                continue
            for offset in range(0, len(chunk), 8):
                if chunk[offset : offset + 8] != _ZERO_IDENT:
                    yield first + ((start + offset) >> 3) * FIELDS_PER_SLOT

    def close(self) -> None:
        if self.ops is not None:
            self.ops.release()
        self.locks.release()
        self.fields.release()
        self._map.close()
        os.close(self.fd)


class _HeaderLock:
    __slots__ = ("locks",)

    def __init__(self, locks: SegmentLocks) -> None:
        self.locks = locks

    def __enter__(self) -> None:
        self.locks.lock(_HEADER_LOCK)

    def __exit__(self, *exc: object) -> None:
        self.locks.unlock(_HEADER_LOCK)
