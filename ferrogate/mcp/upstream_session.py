"""One long-lived MCP session to one upstream server, kept alive in its own task.

The SDK's transports are anyio context managers that must be entered and exited in the
same task, so one task (:meth:`UpstreamSession._run`) owns the whole connection: it opens
the transport, runs ``initialize`` and ``tools/list`` (every page), then waits for a stop,
a ``notifications/tools/list_changed`` (re-list) or its next ``ping``. When the transport
dies or a ping fails the session is ``down``: the task reconnects with exponential backoff
and jitter (a stdio server is a new child process) until :meth:`close`.

Callers in other tasks use :meth:`call_tool`, which sends its request through the live
``ClientSession`` (the SDK's dispatcher correlates requests from any task) and is bounded by
its timeout whatever state the session is in: waiting for the first connection counts
against it, a session that is down fails at once. Errors kept for status never carry header
values: they are scrubbed before they are stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any, TextIO

import anyio
import mcp.types as mcp_types
from mcp import ClientSession, MCPError

from ferrogate.config.model import McpServer
from ferrogate.mcp.errors import McpError, McpServerUnavailable, McpToolFailed, McpToolTimeout
from ferrogate.mcp.model import ServerStatus, SessionState, ToolResult, UpstreamTool
from ferrogate.mcp.transport import open_transport, secret_values

log = logging.getLogger("ferrogate.mcp")

CLIENT_INFO = mcp_types.Implementation(name="ferrogate", version="0.1.0")
MAX_ERROR_CHARS = 200
MAX_TOOL_PAGES = 100  # a server that pages forever is cut off here


class UpstreamSession:
    """The session to ``server``: :meth:`start` it, :meth:`call_tool` through it, :meth:`close` it."""

    def __init__(
        self,
        server: McpServer,
        *,
        env: Mapping[str, str] | None = None,
        ping_interval_s: float = 30.0,
        ping_timeout_s: float = 10.0,
        connect_timeout_s: float = 30.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        jitter: float = 0.2,
        close_timeout_s: float = 10.0,
        errlog: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self._env: Mapping[str, str] = env if env is not None else {}
        self._secrets = secret_values(server, self._env)
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._jitter = jitter
        self._close_timeout_s = close_timeout_s
        self._errlog = errlog
        self._clock = clock
        self._state: SessionState = "connecting"
        self._changed = asyncio.Event()  # set (and replaced) at every state change
        self._wake = asyncio.Event()  # list_changed, a check request or close: look now
        self._relist = False
        self._check = False
        self._closing = False
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._tools: tuple[UpstreamTool, ...] = ()
        self._protocol_version: str | None = None
        self._server_info: mcp_types.Implementation | None = None
        self._last_error: str | None = None
        self._reconnects = 0
        self._connected_since: float | None = None

    # ------------------------------------------------------------------ public

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def tools(self) -> tuple[UpstreamTool, ...]:
        """The server's tools as last listed (kept while down, so the catalogue stays stable)."""
        return self._tools

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mcp-session:{self.name}")

    async def wait_settled(self, timeout_s: float) -> SessionState:
        """Wait (bounded) until the first connection attempt is over; the state then."""
        with anyio.move_on_after(timeout_s):
            while self._state == "connecting":
                await self._changed.wait()
        return self._state

    async def call_tool(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> ToolResult:
        """Run ``tool``; :class:`McpServerUnavailable`, :class:`McpToolTimeout` or
        :class:`McpToolFailed` when no result comes back."""
        label = f"{self.name}-{tool}"
        started = time.monotonic()
        try:
            with anyio.fail_after(timeout_s):
                session = await self._ready_session()
                result = await session.call_tool(tool, arguments)
        except TimeoutError:
            raise McpToolTimeout(label, timeout_s) from None
        except McpError:
            raise
        except MCPError as exc:
            if exc.code == mcp_types.CONNECTION_CLOSED:
                self.request_check()
                raise McpServerUnavailable(self.name, "the connection closed during the call") from None
            raise McpToolFailed(label, self._scrub(f"error {exc.code}: {exc.message}")) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            self.request_check()
            raise McpServerUnavailable(self.name, self._describe(exc)) from None
        except Exception as exc:  # a result the SDK refused (schema, unexpected shape)
            raise McpToolFailed(label, self._describe(exc)) from None
        return ToolResult(
            content=[block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content],
            is_error=bool(result.is_error),
            structured_content=result.structured_content,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
        )

    def request_check(self) -> None:
        """Ping now instead of at the next interval (a call saw the connection fail)."""
        self._check = True
        self._wake.set()

    def status(self) -> ServerStatus:
        info = self._server_info
        return ServerStatus(
            name=self.name,
            transport=self.server.transport,
            state=self._state,
            protocol_version=self._protocol_version,
            server_name=info.name if info else None,
            server_version=info.version if info else None,
            tool_count=len(self._tools),
            tools=[t.name for t in self._tools],
            last_error=self._last_error,
            reconnects=self._reconnects,
            connected_since=self._connected_since if self._state == "ready" else None,
        )

    async def close(self) -> None:
        """End the session: the transport closes in its own task (a stdio child is stopped)."""
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            done, _ = await asyncio.wait({task}, timeout=self._close_timeout_s)
            if not done:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        self._set_state("closed")

    # ------------------------------------------------------------------ the session task

    async def _run(self) -> None:
        delay = self._backoff_initial_s
        first = True
        while not self._closing:
            if not first:
                self._reconnects += 1
            first = False
            try:
                await self._connect_and_serve()
                error = "the connection closed"
            except Exception as exc:
                error = self._describe(exc)
            if self._ready_once:
                delay = self._backoff_initial_s
                self._ready_once = False
            if self._closing:
                break
            self._last_error = error
            self._set_state("down")
            log.warning("MCP server %s is down: %s", self.name, error)
            self._wake.clear()
            pause = delay * random.uniform(1 - self._jitter, 1 + self._jitter)
            with anyio.move_on_after(pause):
                await self._wake.wait()
            delay = min(delay * 2, self._backoff_max_s)
        self._set_state("closed")

    _ready_once = False  # set when a connection became ready (the backoff starts over)

    async def _connect_and_serve(self) -> None:
        async with (
            open_transport(self.server, self._env, connect_timeout_s=self._connect_timeout_s, errlog=self._errlog) as (read, write),
            ClientSession(read, write, message_handler=self._on_message, client_info=CLIENT_INFO) as session,
        ):
            with anyio.fail_after(self._connect_timeout_s):
                init = await session.initialize()
                self._relist = False
                tools = await _list_all(session)
            self._protocol_version = init.protocol_version
            self._server_info = init.server_info
            self._tools = tools
            self._connected_since = self._clock()
            self._last_error = None
            self._session = session
            self._ready_once = True
            self._set_state("ready")
            log.info("MCP server %s ready (%d tools)", self.name, len(tools))
            try:
                await self._serve(session)
            finally:
                self._session = None

    async def _serve(self, session: ClientSession) -> None:
        """Until close: re-list on list_changed, ping every interval (or at once when asked)."""
        last_ping = time.monotonic()
        while not self._closing:
            remaining = self._ping_interval_s - (time.monotonic() - last_ping)
            if remaining > 0 and not self._wake.is_set():
                with anyio.move_on_after(remaining):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            if self._relist:
                self._relist = False
                with anyio.fail_after(self._connect_timeout_s):
                    self._tools = await _list_all(session)
                log.info("MCP server %s changed its tools (%d now)", self.name, len(self._tools))
            if self._check or time.monotonic() - last_ping >= self._ping_interval_s:
                self._check = False
                with anyio.fail_after(self._ping_timeout_s):
                    await session.send_ping()
                last_ping = time.monotonic()

    async def _on_message(self, message: mcp_types.ServerNotification | Exception) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._relist = True
            self._wake.set()
        elif isinstance(message, Exception):
            self.request_check()

    # ------------------------------------------------------------------ helpers

    async def _ready_session(self) -> ClientSession:
        while self._state == "connecting" and not self._closing:
            await self._changed.wait()
        if self._state == "ready" and self._session is not None:
            return self._session
        raise McpServerUnavailable(self.name, self._last_error or f"the session is {self._state}")

    def _set_state(self, state: SessionState) -> None:
        if state == self._state:
            return
        self._state = state
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _describe(self, exc: BaseException) -> str:
        """A short, secret-free line for ``exc`` (the first leaf of an exception group)."""
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        if isinstance(exc, TimeoutError):
            return "timed out"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return self._scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text[:MAX_ERROR_CHARS]


async def _list_all(session: ClientSession) -> tuple[UpstreamTool, ...]:
    """Every page of ``tools/list``."""
    tools: list[UpstreamTool] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(
            UpstreamTool(name=t.name, description=t.description, input_schema=dict(t.input_schema)) for t in page.tools
        )
        cursor = page.next_cursor
        if not cursor:
            break
    return tuple(tools)
