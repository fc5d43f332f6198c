"""The deadlines of every client connection of a server (header, body, idle, linger) on one
loop timer.

A loop timer per connection (with uvloop a TimerHandle and a libuv timer, about 0.6 KB) was the
largest single part of an idle keep-alive connection and of an open stream. Here a deadline
costs a set entry: connections are kept in buckets of ``step`` seconds and one timer fires for
the earliest bucket. A deadline fires up to ``step`` late; the step is a quarter of the
shortest configured timeout, at most 0.25 s. A connection is in at most one bucket, and leaves
it when it closes, so a closed connection is never kept alive by its deadline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

_log = logging.getLogger("ferrogate.http")

MAX_STEP = 0.25
MIN_STEP = 0.005


class Timed(Protocol):
    """A connection with a deadline (``HttpProtocol``); ``wheel_slot`` is 0 while unarmed.

    The connection stores what ``arm`` answers in ``wheel_slot``; the wheel sets it to 0 when
    the slot fires (and on ``clear``)."""

    wheel_slot: int

    def deadline_due(self, now: float) -> None: ...


def step_for(*timeouts: float) -> float:
    """The wheel step for these timeouts: a quarter of the shortest positive one, in bounds."""
    positive = [t for t in timeouts if t > 0]
    shortest = min(positive) if positive else 4 * MAX_STEP
    return max(MIN_STEP, min(MAX_STEP, shortest / 4))


class DeadlineWheel:
    __slots__ = ("_buckets", "_handle", "_next", "_ticking", "loop", "step")

    def __init__(self, loop: asyncio.AbstractEventLoop, step: float) -> None:
        self.loop = loop
        self.step = step
        self._buckets: dict[int, set[Timed]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0  # the bucket the timer fires for
        self._ticking = False

    def arm(self, conn: Timed, armed: int, when: float) -> int:
        """Call ``conn.deadline_due`` at ``when`` (up to a step late), unless it is armed for
        an earlier moment already (it then looks at its deadline again and re-arms).

        ``armed`` is ``conn``'s ``wheel_slot`` and the answer is its new one, for the caller
        to store: a compiled connection reads and writes its own field directly, where this
        would look it up by name through the Protocol (about 200 instructions each)."""
        slot = int(when / self.step) + 1
        if armed:
            if armed <= slot:
                return armed
            self._leave(conn, armed)
        bucket = self._buckets.get(slot)
        if bucket is None:
            self._buckets[slot] = {conn}
        else:
            bucket.add(conn)
        if not self._ticking and (self._handle is None or slot < self._next):
            self._schedule(slot)
        return slot

    def disarm(self, conn: Timed, armed: int) -> None:
        """Forget ``conn``'s deadline in slot ``armed`` (its ``wheel_slot``, which the caller
        sets to 0)."""
        if armed:
            self._leave(conn, armed)

    def clear(self) -> None:
        """Forget every deadline (the owner is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for bucket in self._buckets.values():
            for conn in bucket:
                conn.wheel_slot = 0
        self._buckets.clear()

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())

    def _leave(self, conn: Timed, slot: int) -> None:
        bucket = self._buckets.get(slot)
        if bucket is not None:
            bucket.discard(conn)
            if not bucket:
                del self._buckets[slot]

    def _schedule(self, slot: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._next = slot
        self._handle = self.loop.call_at(slot * self.step, self._tick)

    def _tick(self) -> None:
        self._handle = None
        now = self.loop.time()
        due = int(now / self.step)
        buckets = self._buckets
        self._ticking = True
        try:
            for slot in sorted(s for s in buckets if s <= due):
                bucket = buckets.pop(slot)
                for conn in bucket:
                    conn.wheel_slot = 0
                for conn in bucket:
                    try:
                        conn.deadline_due(now)
                    except Exception:  # one connection's bug must not stop the others' deadlines
                        _log.exception("a connection's deadline failed")
        finally:
            self._ticking = False
        if buckets:
            self._schedule(min(buckets))
