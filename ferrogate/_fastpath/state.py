"""State shared by every connection of one HttpServer (passed explicitly, never global)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ferrogate._fastpath.api import Handler
from ferrogate._fastpath.deadline_wheel import DeadlineWheel, step_for
from ferrogate._fastpath.wire import DateHeader
from ferrogate.config.model import Limits

if TYPE_CHECKING:
    from ferrogate._fastpath.access_log import AccessLog

logger = logging.getLogger("ferrogate.http")

# Request-body buffer bounds: reading pauses above HIGH and resumes below LOW.


class Connection(Protocol):
    """What the server does with a live connection (``http1.HttpProtocol``) at shutdown."""

    draining: bool

    def shutdown(self) -> None: ...

    def abort(self) -> None: ...
# How long a closing connection keeps reading (and discarding) so the client sees our
# final response instead of a reset while it is still sending.
LINGER_SECS = 2.0


class ServerState:
    """Per-server values computed once, plus the live connection set and counters."""

    __slots__ = (
        "access_log",
        "all_closed",
        "body_timeout",
        "connections",
        "date",
        "handler",
        "header_timeout",
        "host_ok",
        "idle_timeout",
        "inflight",
        "keep_encoded_slash",
        "limits",
        "linger_secs",
        "loop",
        "max_body",
        "max_header",
        "max_pipelined",
        "now",
        "protocol_errors",
        "responses",
        "shutting_down",
        "tasks",
        "wheel",
        "write_timeout",
    )

    def __init__(
        self,
        handler: Handler,
        limits: Limits,
        loop: asyncio.AbstractEventLoop,
        *,
        linger_secs: float = LINGER_SECS,
        access_log: AccessLog | None = None,
    ) -> None:
        self.handler = handler
        self.access_log = access_log
        self.limits = limits
        self.loop = loop
        # The loop's clock bound once: from compiled code loop.time() looks the method up each call.
        self.now: Callable[[], float] = loop.time
        self.max_header = limits.max_header_bytes
        self.keep_encoded_slash = limits.encoded_slash == "keep"
        self.max_body = limits.max_body_bytes
        self.header_timeout = limits.header_timeout_secs
        self.idle_timeout = limits.idle_timeout_secs
        self.body_timeout = limits.body_timeout_secs
        self.write_timeout = limits.write_timeout_secs
        self.max_pipelined = max(1, limits.max_pipelined_requests)
        self.linger_secs = linger_secs
        # Every connection's header/body/idle/linger deadline, on one loop timer.
        self.wheel = DeadlineWheel(
            loop, step_for(self.header_timeout, self.idle_timeout, self.body_timeout, linger_secs)
        )
        self.date = DateHeader()
        self.connections: set[Connection] = set()
        self.inflight = 0
        self.tasks: set[asyncio.Task[None]] = set()  # handler tasks still running
        # Answers the server gave by itself (400/408/413/431/501...), by status, for metrics:
        # these requests never reach the application or its access log.
        self.protocol_errors: dict[int, int] = {}
        # Every exchange the application answered (or the client left: 499), by status.
        self.responses: dict[int, int] = {}
        self.shutting_down = False
        self.host_ok = b"\x00"  # the last Host value that passed validation (never this one)
        self.all_closed: asyncio.Event | None = None

    def connection_closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if not self.connections and self.all_closed is not None:
            self.all_closed.set()
