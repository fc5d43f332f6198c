"""Backpressure for one connection, in both directions, through one object.

Reading from the client is paused for *reasons* (a bitmask): the request body
buffer is over its high-water mark, too many pipelined requests are queued, the
connection is closing. Reading resumes only when no reason is left, so two
independent pausers never resume each other by accident. Each call is
idempotent.

Writing is paused by the transport itself (``pause_writing`` when its buffer
passes the high-water mark); :meth:`FlowControl.drain` waits until it resumes
or the connection is lost, so a slow client slows the producer instead of
growing memory.
"""

from __future__ import annotations

import asyncio
from typing import Final

# Reasons for pausing reading.
PAUSE_BODY: Final = 1
PAUSE_PIPELINE: Final = 2

# A request body buffered past the high-water mark pauses reading (PAUSE_BODY); reading
# resumes once the application has taken it below the low-water mark.
BODY_HIGH_WATER: Final = 64 * 1024
BODY_LOW_WATER: Final = 16 * 1024


class FlowControl:
    __slots__ = ("_drain_waiter", "_loop", "_paused_reasons", "_transport", "writing_paused")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._transport = transport
        self._loop = loop  # given: no asyncio.get_running_loop() (a getpid() call on 3.11) per wait
        self._paused_reasons = 0
        self.writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    @property
    def reading_paused(self) -> bool:
        return self._paused_reasons != 0

    def pause_reading(self, reason: int) -> None:
        if self._paused_reasons == 0 and not self._transport.is_closing():
            self._transport.pause_reading()
        self._paused_reasons |= reason

    def resume_reading(self, reason: int) -> None:
        if not self._paused_reasons & reason:
            return
        self._paused_reasons &= ~reason
        if self._paused_reasons == 0 and not self._transport.is_closing():
            self._transport.resume_reading()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        """Called by the transport, and on connection loss so no drain() waits forever."""
        self.writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        if not self.writing_paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = (self._loop or asyncio.get_running_loop()).create_future()
            self._drain_waiter = waiter
        # shield: one waiter is shared by every drainer; a cancelled drainer must not cancel it.
        await asyncio.shield(waiter)
