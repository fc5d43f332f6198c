"""HttpServer: the fast-path HTTP/1.1 server on one already-listening socket.

Lifecycle (uvicorn's order): ``start`` serves the socket; ``stop_accepting``
closes only this server's listener; ``shutdown`` closes idle keep-alive
connections at once, lets busy ones finish their current response (sent with
``connection: close``), waits for them up to the grace period on a real event,
then cancels and aborts whatever is left.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module

from ferrogate._fastpath.acceptor import Acceptor
from ferrogate._fastpath.access_log import AccessLog
from ferrogate._fastpath.api import Handler
from ferrogate._fastpath.http1 import HttpProtocol
from ferrogate._fastpath.state import ServerState
from ferrogate.config.model import Limits


class HttpServer:
    __slots__ = ("_acceptor", "_access_log", "_handler", "_limits", "_state", "_tick")

    def __init__(self, handler: Handler, limits: Limits, *, access_log: AccessLog | None = None) -> None:
        self._handler = handler
        self._limits = limits
        self._access_log = access_log
        self._state: ServerState | None = None
        self._acceptor: Acceptor | None = None
        self._tick: asyncio.TimerHandle | None = None

    async def start(
        self, sock: socket.socket, *, backlog: int = 2048, ssl: ssl_module.SSLContext | None = None
    ) -> None:
        """Serve ``sock`` (bound; listening, or made to listen with ``backlog``) on the
        running loop, over TLS when ``ssl`` is given (the handshake is the loop's; the
        protocol sees plaintext)."""
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            sock.listen(backlog)
        loop = asyncio.get_running_loop()
        state = ServerState(self._handler, self._limits, loop, access_log=self._access_log)
        self._state = state
        self._acceptor = Acceptor(loop, sock, lambda: HttpProtocol(state), ssl=ssl)
        self._acceptor.start()
        self._on_tick()

    def _on_tick(self) -> None:
        """Refresh the cached Date header once a second."""
        state = self._state
        if state is None:
            return
        state.date.refresh()
        self._tick = state.loop.call_later(1.0, self._on_tick)

    def stop_accepting(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()

    def begin_drain(self) -> None:
        """Stop accepting and mark every connection draining, closing none of them yet.

        From now on each response carries ``connection: close`` and its connection
        closes after it; an idle keep-alive connection stays open until it sends one
        more request (answered, then closed) or :meth:`shutdown` runs.
        """
        self.stop_accepting()
        state = self._state
        if state is None:
            return
        state.shutting_down = True
        for conn in state.connections:
            conn.draining = True

    async def shutdown(self, grace_secs: float) -> None:
        self.stop_accepting()
        state = self._state
        if state is None:
            return
        loop = state.loop
        deadline = loop.time() + grace_secs
        state.shutting_down = True
        state.all_closed = asyncio.Event()
        for conn in list(state.connections):
            conn.shutdown()
        if state.connections:
            try:
                await asyncio.wait_for(state.all_closed.wait(), timeout=grace_secs)
            except TimeoutError:
                for conn in list(state.connections):
                    conn.abort()
        # Aborted transports report connection_lost on the next loop iterations.
        if state.connections:
            try:
                await asyncio.wait_for(state.all_closed.wait(), timeout=1.0)
            except TimeoutError:
                pass
        # Handlers may still run after their response (accounting, logging): give them
        # what is left of the grace period, then cancel.
        if state.tasks:
            _, pending = await asyncio.wait(set(state.tasks), timeout=max(0.0, deadline - loop.time()))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self._acceptor is not None:
            await self._acceptor.wait_closed()

    @property
    def connection_count(self) -> int:
        return len(self._state.connections) if self._state is not None else 0

    @property
    def inflight(self) -> int:
        return self._state.inflight if self._state is not None else 0

    @property
    def responses(self) -> dict[int, int]:
        """Every response so far by status: the application's and the server's own errors."""
        state = self._state
        if state is None:
            return {}
        counts = dict(state.responses)
        for status, n in state.protocol_errors.items():
            counts[status] = counts.get(status, 0) + n
        return counts

    @property
    def protocol_errors(self) -> dict[int, int]:
        """Count of error answers the server gave itself (malformed, too large, too slow)."""
        return dict(self._state.protocol_errors) if self._state is not None else {}

    @property
    def state(self) -> ServerState | None:
        """Shared per-server state (for tests and metrics)."""
        return self._state
