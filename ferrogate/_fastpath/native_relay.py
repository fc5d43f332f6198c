"""The rest of a long SSE stream relayed by C (``_sse_relay.c``), driven from the loop.

Once a stream's head and first events are out, a relay per read in Python costs a callback
chain (uvloop, protocol, parser, relay, transport) per event. Here both sockets are
duplicated and the loop calls the C relay straight from the upstream socket's readiness; Python
is called only for the events it decides on (usage, the terminal event) and for state changes: the
client blocked (read nothing more from the upstream until it drains), the end, a failure.
The transports stay open and idle meanwhile; the upstream connection is not reused after.
Without the built extension, or with ``FERROGATE_NATIVE_RELAY=0``, streams stay in Python.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import ClassVar, Final, Protocol

try:
    from ferrogate._fastpath import _sse_relay as _native
except ImportError:  # not built (make compiled): streams are relayed in Python
    _native = None  # type: ignore[assignment]

# The relay's notify codes (``_sse_relay.c``; tests/fastpath/test_sse_relay.py checks they match).
RUNNING: Final = 0
BLOCKED: Final = 1
UNBLOCKED: Final = 2
DONE: Final = 3
UPSTREAM_EOF: Final = 4
UPSTREAM_ERROR: Final = 5
CLIENT_GONE: Final = 6
TOO_LARGE: Final = 7
BAD_FRAMING: Final = 8
INSPECT_FAILED: Final = 9


class Inspector(Protocol):
    """What the relay asks about the blocks holding a marker (a stream translator)."""

    native_markers: ClassVar[tuple[bytes, ...]]  # a block holding one goes through feed
    native_usage_object: ClassVar[bool]  # so does a block with a "usage": {...} object
    native_count: ClassVar[bytes]  # counted in the other blocks (``SseRelay.counted``)

    def feed(self, data: bytes) -> bytes: ...


def native_relay_enabled(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return _native is not None and env.get("FERROGATE_NATIVE_RELAY", "1") != "0"


class NativeStream:
    """One C relay on the loop: swaps the upstream reader for a client writer while the
    client is blocked, cuts a client off that takes nothing for the write timeout, and wakes
    the waiting relay task when the relay ends."""

    __slots__ = ("_loop", "_stall", "_wake", "_write_timeout", "client_fd", "code", "relay", "up_fd")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        up_fd: int,
        client_fd: int,
        max_event_bytes: int,
        inspector: Inspector,
        wake: Callable[[], None],
        write_timeout: float,
    ) -> None:
        assert _native is not None
        self._loop = loop
        self.up_fd = up_fd
        self.client_fd = client_fd
        self._wake = wake
        self._write_timeout = write_timeout
        self._stall: asyncio.TimerHandle | None = None
        self.code = RUNNING
        self.relay = _native.SseRelay(
            up_fd, client_fd, max_event_bytes, inspector.feed, self._notify, inspector.native_markers,
            usage_object=inspector.native_usage_object, count=inspector.native_count,
        )

    def start(self) -> None:
        self._loop.add_reader(self.up_fd, self.relay.readable)

    def _notify(self, code: int) -> None:
        loop = self._loop
        if code == BLOCKED:
            loop.remove_reader(self.up_fd)
            loop.add_writer(self.client_fd, self.relay.writable)
            if self._write_timeout > 0 and self._stall is None:
                self._stall = loop.call_later(self._write_timeout, self._stalled)
        elif code == UNBLOCKED:
            self._cancel_stall()
            loop.remove_writer(self.client_fd)
            loop.add_reader(self.up_fd, self.relay.readable)
        else:
            self.code = code
            self._unregister()
            self._wake()

    def _stalled(self) -> None:
        self._stall = None
        if self.code == RUNNING:
            self._notify(CLIENT_GONE)

    def _cancel_stall(self) -> None:
        stall = self._stall
        if stall is not None:
            self._stall = None
            stall.cancel()

    def _unregister(self) -> None:
        self._cancel_stall()
        self._loop.remove_reader(self.up_fd)
        self._loop.remove_writer(self.client_fd)

    def close(self) -> None:
        """Stop (idempotent): no more callbacks; both duplicates closed."""
        self._unregister()
        self.relay.close()
