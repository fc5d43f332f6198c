"""Deadlines of upstream exchanges: the :class:`Timeouts` a request carries and the
:class:`Watchdog` that enforces them.

A timer per request (``call_at`` + ``cancel``) costs more than the rest of the
request's bookkeeping together, so each pool keeps its active connections'
deadlines on one deadline wheel; deadlines fire up to ``interval`` late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ferrogate._fastpath.deadline_wheel import DeadlineWheel


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


class Watchdog:
    """The deadlines of a pool's active connections, on one deadline wheel.

    A connection (``UpstreamConnection._watch``) is looked at when its earliest deadline may
    have passed, not on every tick: a deadline that moves later (the idle one, on every read)
    costs nothing until then, and a long stream with no deadline left is never looked at.
    Deadlines fire up to ``interval`` late.
    """

    __slots__ = ("loop", "now", "wheel")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.05) -> None:
        self.loop = loop
        # The loop's clock bound once: a call through it skips the method lookup that
        # loop.time() makes from compiled code (a handful a request).
        self.now: Callable[[], float] = loop.time
        self.wheel = DeadlineWheel(loop, interval)

    def close(self) -> None:
        self.wheel.clear()
