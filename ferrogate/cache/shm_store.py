"""The node's answer cache: one shared-memory segment every worker reads and writes.

A hit on any worker for an answer another stored needs the answers in memory they
all map, so the supervisor creates this ``memfd`` before it forks, like the counter
table. Two parts:

- an index, set-associative: a key's digest picks a bucket of 8 ways; a full bucket
  evicts its least recently used way (LRU per bucket: ``max_records`` is the number of
  ways, so eviction is exact within a bucket and approximate across the cache);
- an arena used as a ring: an answer is appended at the write cursor, and an entry
  whose bytes the cursor has since run over is dead. So memory is bounded by
  ``max_bytes`` whatever the records' sizes.

A bucket is read and written under its own lock (``ipc.shm_locks``; the locks sit
between the header and the index). Each worker takes the ring in stretches of
256 KiB under the header's lock, then appends into its stretch without one. A reader copies an answer, then checks that the
cursor has not run over it meanwhile (the cursor moves before anything is written), and that
its bytes still have the CRC-32 the writer put in its entry: a writer held up (descheduled)
past its stretch's turn can write over a newer answer, which the cursor cannot tell.

``get`` and ``put`` run in C (``_ring_ops.c``) on a segment whose locks are mutexes,
when it is built: they are on every cacheable request's path, and in Python the same
rules cost five to ten times as much. The C follows this module's layout and rules
exactly, so processes with and without it share a segment; the Python code below is
what runs otherwise.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from typing import Final

from ferrogate.ipc.shm_locks import (
    LOCK_BYTES,
    MUTEX,
    SegmentLocks,
    kind_for_new_segment,
    open_locks,
)

try:
    from ferrogate.cache._ring_ops import LAYOUT, RingOps
except ImportError:  # not built: the Python get and put below serve every segment
    RingOps = None  # type: ignore[assignment, misc]
    LAYOUT = (0, 0, 0, 0, 0, 0, 0)

MAGIC: Final = 0x46474341_00000002  # "FGCA", layout 2
_HEADER_BYTES: Final = 4096
WAYS: Final = 8
_ENTRY_FIELDS: Final = 8
_ENTRY_BYTES: Final = _ENTRY_FIELDS * 8
_BUCKET_BYTES: Final = WAYS * _ENTRY_BYTES

# Header fields.
_H_MAGIC: Final = 0
_H_BUCKETS: Final = 1
_H_ARENA: Final = 2
_H_CURSOR: Final = 3
_H_LOCK_KIND: Final = 4
_HEADER_LOCK: Final = 64  # byte offset of the lock that hands out stretches of the ring
# Entry fields.
_D0: Final = 0
_D1: Final = 1
_POS: Final = 2
_LEN: Final = 3
_EXPIRES: Final = 4
_USED: Final = 5
_CRC: Final = 6  # zlib's CRC-32 of the answer's bytes

_DIGEST: Final = struct.Struct("<qq")
_BUCKET: Final = struct.Struct(f"<{WAYS * _ENTRY_FIELDS}q")
_ENTRY: Final = struct.Struct("<7q")  # _D0 .. _CRC
_CHUNK: Final = 256 * 1024
# A build of _ring_ops.c made for another layout is not used.
_NATIVE_LAYOUT: Final = RingOps is not None and LAYOUT == (
    MAGIC, _HEADER_BYTES, LOCK_BYTES, WAYS, _ENTRY_FIELDS, _HEADER_LOCK, _CHUNK
)


class ShmCache:
    """A mapped cache segment; ``largest`` is the biggest answer it takes (an eighth of the arena).

    ``native=False`` keeps the Python ``get`` and ``put`` on a segment the C could serve
    (tests that check the two agree)."""

    __slots__ = (
        "_arena_at", "_chunk_end", "_chunk_pos", "_index_at", "_map", "_ops", "arena", "buckets", "fd", "fields",
        "largest", "locks",
    )

    def __init__(self, fd: int, native: bool = True) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, os.fstat(fd).st_size)
        self.fields = memoryview(self._map).cast("q")
        if self.fields[_H_MAGIC] != MAGIC:
            self.fields.release()
            self._map.close()
            raise ValueError("not a FerroGate cache segment (or an older layout)")
        self.locks: SegmentLocks = open_locks(self.fields[_H_LOCK_KIND], fd, self._map)
        self.buckets = self.fields[_H_BUCKETS]
        self.arena = self.fields[_H_ARENA]
        # Bucket b's lock is at byte _HEADER_BYTES + b * LOCK_BYTES; the index follows the locks.
        self._index_at = (_HEADER_BYTES + self.buckets * LOCK_BYTES) // 8
        self._arena_at = _HEADER_BYTES + self.buckets * (LOCK_BYTES + _BUCKET_BYTES)
        self.largest = self.arena // 8
        # This process's stretch of the ring: taken CHUNK bytes at a time under the header
        # lock, then filled without it.
        self._chunk_pos = 0
        self._chunk_end = 0
        use_ops = native and _NATIVE_LAYOUT and self.fields[_H_LOCK_KIND] == MUTEX
        self._ops: RingOps | None = RingOps(self._map) if use_ops else None

    @classmethod
    def create(cls, max_records: int, max_bytes: int) -> ShmCache:
        buckets = max(1, -(-max_records // WAYS))
        fd = os.memfd_create("ferrogate-cache", os.MFD_CLOEXEC)
        os.ftruncate(fd, _HEADER_BYTES + buckets * (LOCK_BYTES + _BUCKET_BYTES) + max_bytes)
        kind = kind_for_new_segment()
        with mmap.mmap(fd, _HEADER_BYTES) as head:
            fields = memoryview(head).cast("q")
            fields[_H_MAGIC] = MAGIC
            fields[_H_BUCKETS] = buckets
            fields[_H_ARENA] = max_bytes
            fields[_H_LOCK_KIND] = kind
            fields.release()
        cache = cls(fd)
        cache.locks.create(_HEADER_LOCK)
        for bucket in range(buckets):
            cache.locks.create(_HEADER_BYTES + bucket * LOCK_BYTES)
        return cache

    def sized_for(self, max_records: int, max_bytes: int) -> bool:
        """Whether this segment has the sizes a config with these settings would create."""
        return self.buckets == max(1, -(-max_records // WAYS)) and self.arena == max_bytes

    @property
    def native(self) -> bool:
        """Whether ``get`` and ``put`` run in C."""
        return self._ops is not None

    def get(self, digest: bytes, now_ms: int) -> bytes | None:
        ops = self._ops
        if ops is not None:
            return ops.get(digest, now_ms)
        d0, d1 = _DIGEST.unpack(digest)
        bucket = d0 % self.buckets
        first = self._index_at + bucket * (WAYS * _ENTRY_FIELDS)
        lock = _HEADER_BYTES + bucket * LOCK_BYTES
        fields = self.fields
        self.locks.lock(lock)
        try:
            ways = _BUCKET.unpack_from(self._map, first * 8)  # one call reads all 8 ways
            for way in range(0, WAYS * _ENTRY_FIELDS, _ENTRY_FIELDS):
                if ways[way + _D0] != d0 or ways[way + _D1] != d1:
                    continue
                at = first + way
                pos, length = ways[way + _POS], ways[way + _LEN]
                if ways[way + _EXPIRES] <= now_ms or fields[_H_CURSOR] > pos + self.arena:
                    fields[at + _D0] = fields[at + _D1] = 0  # expired or run over: free the way
                    return None
                start = self._arena_at + pos % self.arena
                data = self._map[start : start + length]
                # A writer ran over it while we copied, or a held-up one wrote over it.
                if fields[_H_CURSOR] > pos + self.arena or zlib.crc32(data) != ways[way + _CRC]:
                    fields[at + _D0] = fields[at + _D1] = 0
                    return None
                fields[at + _USED] = now_ms
                return data
            return None
        finally:
            self.locks.unlock(lock)

    def put(self, digest: bytes, value: bytes, now_ms: int, ttl_ms: int) -> bool:
        """Store ``value``; False when it is larger than :attr:`largest`."""
        ops = self._ops
        if ops is not None:
            return ops.put(digest, value, now_ms, ttl_ms)
        length = len(value)
        if length > self.largest or length == 0:
            return False
        fields = self.fields
        pos = self._chunk_pos
        # A stretch the others have since taken half the ring beyond is given up: its bytes
        # will soon be theirs again.
        if pos + length > self._chunk_end or fields[_H_CURSOR] > self._chunk_end + self.arena // 2:
            pos = self._take_chunk(length)
        self._chunk_pos = pos + length
        start = self._arena_at + pos % self.arena
        self._map[start : start + length] = value
        crc = zlib.crc32(value)
        d0, d1 = _DIGEST.unpack(digest)
        bucket = d0 % self.buckets
        first = self._index_at + bucket * (WAYS * _ENTRY_FIELDS)
        lock = _HEADER_BYTES + bucket * LOCK_BYTES
        self.locks.lock(lock)
        try:
            ways = _BUCKET.unpack_from(self._map, first * 8)
            run_over = fields[_H_CURSOR] - self.arena  # a way whose bytes start before this is dead
            victim = 0
            oldest = None
            for way in range(0, WAYS * _ENTRY_FIELDS, _ENTRY_FIELDS):
                if ways[way + _D0] == d0 and ways[way + _D1] == d1:
                    victim = way
                    break
                dead = (
                    (ways[way + _D0] == 0 and ways[way + _D1] == 0)
                    or ways[way + _EXPIRES] <= now_ms
                    or ways[way + _POS] < run_over
                )
                used = -1 if dead else ways[way + _USED]
                if oldest is None or used < oldest:
                    oldest = used
                    victim = way
            _ENTRY.pack_into(self._map, (first + victim) * 8, d0, d1, pos, length, now_ms + ttl_ms, now_ms, crc)
        finally:
            self.locks.unlock(lock)
        return True

    def _take_chunk(self, length: int) -> int:
        """A new stretch of the ring for this process (at least ``length`` bytes); its start."""
        size = max(length, min(_CHUNK, self.largest))
        fields = self.fields
        self.locks.lock(_HEADER_LOCK)
        try:
            cursor = fields[_H_CURSOR]
            offset = cursor % self.arena
            if offset + size > self.arena:  # never split a stretch over the ring's end
                cursor += self.arena - offset
            fields[_H_CURSOR] = cursor + size
        finally:
            self.locks.unlock(_HEADER_LOCK)
        self._chunk_end = cursor + size
        return cursor

    def records(self, now_ms: int) -> int:
        """Live entries (for tests and status; reads without locks)."""
        fields = self.fields
        live = 0
        for bucket in range(self.buckets):
            first = self._index_at + bucket * WAYS * _ENTRY_FIELDS
            for way in range(WAYS):
                at = first + way * _ENTRY_FIELDS
                if (fields[at + _D0] or fields[at + _D1]) and fields[at + _EXPIRES] > now_ms and not (
                    fields[_H_CURSOR] > fields[at + _POS] + self.arena
                ):
                    live += 1
        return live
