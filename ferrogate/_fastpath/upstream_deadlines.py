"""Deadlines of upstream exchanges: the :class:`Timeouts` a request carries and the
:class:`Watchdog` that enforces them.

A timer per request (``call_at`` + ``cancel``) costs more than the rest of the
request's bookkeeping together, so each pool has one coarse periodic timer that
looks at its active connections; deadlines fire up to ``interval`` late.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Timeouts:
    """Deadlines for one upstream exchange, in seconds (None = no limit).

    ``connect`` covers TCP + TLS; ``first_byte`` runs from the end of the
    request until the response head; ``idle`` is the longest silence between
    body bytes; ``total`` runs from sending the request to the last byte.
    """

    __slots__ = ("connect", "first_byte", "idle", "total")

    def __init__(
        self,
        connect: float = 5.0,
        first_byte: float | None = 60.0,
        total: float | None = None,
        idle: float | None = None,
    ) -> None:
        self.connect = connect
        self.first_byte = first_byte
        self.total = total
        self.idle = idle

    def __repr__(self) -> str:
        return (
            f"Timeouts(connect={self.connect}, first_byte={self.first_byte}, "
            f"total={self.total}, idle={self.idle})"
        )


class Watched(Protocol):
    """A connection with deadlines (``UpstreamConnection``)."""

    def check_deadlines(self, now: float) -> None: ...


class Watchdog:
    """One coarse periodic timer for the deadlines of every active connection of a pool.

    A timer per request (``call_at`` + ``cancel``) costs more than the rest of the
    request bookkeeping together; deadlines here fire up to ``interval`` late.
    """

    __slots__ = ("_handle", "active", "interval", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.05) -> None:
        self.loop = loop
        self.interval = interval
        self.active: set[Watched] = set()
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, conn: Watched) -> None:
        self.active.add(conn)
        if self._handle is None:
            self._handle = self.loop.call_later(self.interval, self._tick)

    def unwatch(self, conn: Watched) -> None:
        self.active.discard(conn)

    def _tick(self) -> None:
        self._handle = None
        if not self.active:
            return
        now = self.loop.time()
        for conn in list(self.active):
            conn.check_deadlines(now)
        if self.active:
            self._handle = self.loop.call_later(self.interval, self._tick)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.active.clear()
