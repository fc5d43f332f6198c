"""Locks inside the node's shared-memory segments (the counter table, the answer cache).

Each segment says in its header which kind of lock it was made with, and every
process that maps it uses that kind, whatever it would have chosen itself:

- ``MUTEX``: a robust process-shared pthread mutex in the segment
  (``_shm_mutex.c``, built by ``make compiled``): an atomic instruction when free,
  a futex wait when held, and released by the kernel's robust list when its holder
  dies.
- ``FCNTL``: a POSIX record lock on the same bytes of the segment's memfd, where
  the native module is not built (or ``FERROGATE_PURE=1`` made the segment): two
  system calls per critical section, and all locks of one segment share the
  kernel's lock list for its inode.

A segment reserves ``LOCK_BYTES`` per lock, whichever the kind.
"""

from __future__ import annotations

import fcntl
import os
from typing import Protocol

from ferrogate.compiled import PURE_ENV

try:
    from ferrogate.ipc._shm_mutex import MUTEX_BYTES, MutexArray
except ImportError:  # not built: a missing compiler leaves pure Python in place
    MutexArray = None  # type: ignore[assignment, misc]
    MUTEX_BYTES = 0

LOCK_BYTES = 64
FCNTL = 1
MUTEX = 2
assert MUTEX_BYTES <= LOCK_BYTES, "a pthread mutex no longer fits a segment's lock room"


class SegmentLocks(Protocol):
    def create(self, offset: int, /) -> None: ...
    def lock(self, offset: int, /) -> bool: ...
    def unlock(self, offset: int, /) -> None: ...
    def release(self) -> None: ...


class FcntlLocks:
    """Record locks on ``LOCK_BYTES`` at each lock's offset of the segment's fd."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def create(self, offset: int, /) -> None:
        """Nothing to set up: a record lock is any byte range."""

    def lock(self, offset: int, /) -> bool:
        fcntl.lockf(self.fd, fcntl.LOCK_EX, LOCK_BYTES, offset)
        return False  # the kernel drops a dead holder's record locks itself

    def unlock(self, offset: int, /) -> None:
        fcntl.lockf(self.fd, fcntl.LOCK_UN, LOCK_BYTES, offset)

    def release(self) -> None:
        """Nothing held on the mapping."""


def native_locks_built() -> bool:
    return MutexArray is not None


def kind_for_new_segment() -> int:
    """The kind a new segment is made with: mutexes when built, unless pure Python was asked for."""
    pure = os.environ.get(PURE_ENV, "") not in ("", "0")
    return MUTEX if MutexArray is not None and not pure else FCNTL


def open_locks(kind: int, fd: int, mapping: object) -> SegmentLocks:
    """The locks of a segment made with ``kind`` (``mapping``: its writable mmap)."""
    if kind == FCNTL:
        return FcntlLocks(fd)
    if kind == MUTEX:
        if MutexArray is None:
            raise ValueError(
                "this shared segment uses native mutexes, but this build has none (run `make compiled`)"
            )
        return MutexArray(mapping)
    raise ValueError(f"unknown lock kind {kind} in a shared segment")
