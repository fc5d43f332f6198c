"""Accepting connections in batches.

libuv (1.45+, inside uvloop) accepts one connection per event-loop turn and relies on
level-triggered polling for the next. A worker busy with requests turns its loop every
few milliseconds, so a burst of new connections waited one turn each: 128 connections
arriving at once took about 1.5 s to be accepted (measured with ``wrk -c256``: p99
1.2 s, max 2 s, while no request took over 12 ms inside the gateway). Here each
readiness of the listening socket accepts up to ``batch`` connections, then hands
each to the loop (``connect_accepted_socket``: the same transports, TLS included).
``batch`` stays bounded so one worker sharing a socket with others (systemd socket
activation) does not take every waiting connection, and the loop keeps turning.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl as ssl_module
from collections.abc import Callable

log = logging.getLogger("ferrogate.fastpath")

# accept() errors that concern one connection (the next may be fine)
_TRANSIENT = frozenset((errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR))
# out of file descriptors or memory: stop accepting for a moment instead of spinning
_EXHAUSTED = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
RETRY_AFTER_EXHAUSTION_SECS = 1.0


class Acceptor:
    __slots__ = ("_batch", "_factory", "_loop", "_paused", "_sock", "_ssl", "_tasks")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        *,
        ssl: ssl_module.SSLContext | None = None,
        batch: int = 64,
    ) -> None:
        self._loop = loop
        self._sock: socket.socket | None = sock
        self._factory = factory
        self._ssl = ssl
        self._batch = batch
        self._paused: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[object]] = set()  # TLS handshakes and transport set-up

    def start(self) -> None:
        sock = self._sock
        if sock is not None:
            sock.setblocking(False)
            self._loop.add_reader(sock.fileno(), self._on_readable)

    def close(self) -> None:
        """Stop accepting and close this process's listening socket (the kernel socket lives
        on while another process holds it: the supervisor keeps it for the next worker)."""
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        else:
            self._loop.remove_reader(sock.fileno())
        sock.close()

    async def wait_closed(self) -> None:
        """Wait for connections accepted before :meth:`close` to finish their set-up."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(self._batch):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _TRANSIENT:
                    continue
                if exc.errno in _EXHAUSTED:
                    log.error("cannot accept connections (%s); retrying in %.0f s",
                              exc.strerror, RETRY_AFTER_EXHAUSTION_SECS)
                    self._pause()
                    return
                raise
            self._hand_over(conn)

    def _hand_over(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        task: asyncio.Task[object] = self._loop.create_task(
            self._loop.connect_accepted_socket(self._factory, conn, ssl=self._ssl)
        )
        self._tasks.add(task)
        task.add_done_callback(self._set_up)

    def _set_up(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # A failed TLS handshake or a client gone before set-up: that connection only.
            log.debug("connection set-up failed: %s", exc)

    def _pause(self) -> None:
        sock = self._sock
        if sock is None:
            return
        self._loop.remove_reader(sock.fileno())
        self._paused = self._loop.call_later(RETRY_AFTER_EXHAUSTION_SECS, self._resume)

    def _resume(self) -> None:
        self._paused = None
        sock = self._sock
        if sock is not None:
            self._loop.add_reader(sock.fileno(), self._on_readable)
