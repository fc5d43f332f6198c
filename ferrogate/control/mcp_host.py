"""The node's MCP host in the control process: one session per ``[[mcp_servers]]`` entry,
tool calls run for the workers, the catalogue sent to them, and the tool sessions kept.

Why here and not in each worker: a stdio server is one child process, and an upstream
server should see one client per node, not one per worker. Workers authenticate and
govern a call, then send it here over IPC (``ipc.ToolCallRequest``); the answer goes
back on the same connection. The catalogue goes to every worker at hello and, when a
server's tool list changes, within ``CATALOG_SECS``.

Tool sessions: every call belongs to one (a new one unless the caller names an existing
``tool_session_id``); its steps (tool, arguments, result, outcome, duration; and the model
calls of an automatic tool loop, noted by the worker) are kept by
:mod:`ferrogate.control.tool_session_book`, for ``GET /admin/v1/tool-sessions/{id}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from ferrogate import ipc
from ferrogate.config.model import McpServer
from ferrogate.control.background import cancel_and_wait
from ferrogate.control.event_sinks import EventSink, ToolEvent
from ferrogate.control.tool_session_book import ToolSessionBook
from ferrogate.control.tool_views import ToolExecution, ToolSession, ToolStep
from ferrogate.errors import GatewayError
from ferrogate.mcp.model import CatalogTool, ServerStatus, ToolResult
from ferrogate.mcp.session_pool import McpSessions

_log = logging.getLogger("ferrogate.control.mcp")

CATALOG_SECS = 0.5

_ENCODE = msgspec.json.Encoder()


_KEPT_RESULT_BYTES = 8192  # a step keeps a tool's content up to this size (JSON)


def _kept(content: Any) -> Any:
    """What a session step keeps of a tool's content: all of it when small, else a note."""
    if content is None:
        return None
    size = len(_ENCODE.encode(content))
    return content if size <= _KEPT_RESULT_BYTES else f"[{size} bytes of content, not kept]"


class McpHost:
    def __init__(self, servers: list[McpServer], env: Mapping[str, str],
                 broadcast: Callable[[ipc.Message], int], sinks: Sequence[EventSink] = (),
                 store_path: str | None = None) -> None:
        self.pool = McpSessions(servers, env=env)
        self._broadcast = broadcast
        self.sinks = tuple(sinks)
        self._emits: set[asyncio.Task[None]] = set()
        self._revision = 0
        self._catalog = b"[]"
        self.sessions = ToolSessionBook(store_path)
        self._task: asyncio.Task[None] | None = None
        self.calls: dict[tuple[str, str, str], int] = {}  # (server, tool, outcome) -> calls
        self.seconds: dict[tuple[str, str], tuple[int, float]] = {}  # (server, tool) -> (count, sum)

    async def start(self) -> None:
        await self.sessions.start()
        await self.pool.start()
        self._refresh()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="mcp-catalog")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._emits:  # let the last events reach their sinks (the audit log: the store)
            await asyncio.wait(self._emits, timeout=5)
        await self.sessions.stop()  # first: the sessions' last steps before the servers' slow goodbyes
        await self.pool.stop()

    # -- what the workers and the admin API read

    def catalog(self) -> ipc.ToolCatalog:
        return ipc.ToolCatalog(revision=self._revision, tools=self._catalog)

    def tools(self) -> list[CatalogTool]:
        return self.pool.tools()

    def servers(self) -> list[ServerStatus]:
        return self.pool.status()

    async def session(self, session_id: str) -> ToolSession | None:
        return await self.sessions.find(session_id)

    # -- running a call for a worker

    async def call(self, req: ipc.ToolCallRequest) -> ipc.ToolCallReply:
        started = time.monotonic()
        session = await self._session_for(req)
        tool = next((t for t in self.pool.tools() if t.name == req.name), None)
        server = tool.server if tool is not None else ""
        try:
            arguments = msgspec.json.decode(req.arguments)
            if not isinstance(arguments, dict):
                raise GatewayError(400, "the tool arguments must be a JSON object", param="arguments")
            result: ToolResult = await self.pool.call(req.name, arguments)
        except GatewayError as err:
            duration = (time.monotonic() - started) * 1000.0
            self._note(session, req, server, None, err.status, None, err.code, duration)
            return ipc.ToolCallReply(id=req.id, status=err.status, code=err.code, message=err.message,
                                     param=err.param, session_id=session.id, duration_ms=duration)
        except msgspec.DecodeError:
            return ipc.ToolCallReply(id=req.id, status=400, code="invalid_request", param="arguments",
                                     message="the tool arguments are not JSON", session_id=session.id)
        duration = result.duration_ms
        self._note(session, req, server, arguments, 200, result.is_error, None, duration, result.content)
        body = _ENCODE.encode(ToolExecution(
            object="tool.result", name=req.name, server=server, content=result.content,
            isError=result.is_error, structuredContent=result.structured_content,
            duration_ms=round(duration, 3), tool_session_id=session.id,
        ))
        return ipc.ToolCallReply(id=req.id, status=200, body=body, session_id=session.id, duration_ms=duration)

    def note_model_step(self, note: ipc.ToolSessionNote) -> None:
        """A model call of a worker's tool loop joins its tool session."""
        self.sessions.add(self.sessions.open_own(note.session_id, note.key_id), ToolStep(
            at=time.time(), request_id=note.request_id, key_id=note.key_id, kind="model", model=note.model,
            provider=note.provider, prompt_tokens=note.prompt_tokens, completion_tokens=note.completion_tokens,
            finish_reason=note.finish_reason, tool_calls=note.tool_calls, duration_ms=round(note.duration_ms, 3),
        ))

    async def _session_for(self, req: ipc.ToolCallRequest) -> ToolSession:
        if not req.session_id:
            return self.sessions.new(req.key_id)
        if req.open_session:
            return self.sessions.open_own(req.session_id, req.key_id)
        return await self.sessions.join(req.session_id, req.key_id)

    def _note(self, session: ToolSession, req: ipc.ToolCallRequest, server: str, arguments: Any, status: int,
              is_error: bool | None, code: str | None, duration_ms: float, result: Any = None) -> None:
        self.sessions.add(session, ToolStep(
            at=time.time(), request_id=req.request_id, key_id=req.key_id, tool=req.name, server=server,
            arguments=arguments, result=_kept(result), status=status, is_error=is_error, error_code=code,
            duration_ms=round(duration_ms, 3),
        ))
        outcome = "error" if status != 200 else ("tool_error" if is_error else "ok")
        if self.sinks:
            event = ToolEvent(at=time.time(), request_id=req.request_id, key_id=req.key_id, tool=req.name,
                              server=server, tool_session_id=session.id, outcome=outcome, status=status,
                              error_code=code, duration_ms=round(duration_ms, 3))
            for sink in self.sinks:
                task = asyncio.get_running_loop().create_task(self._emit(sink, event))
                self._emits.add(task)
                task.add_done_callback(self._emits.discard)
        if server:  # an unknown tool has no server: counted nowhere (bounded labels)
            key = (server, req.name, outcome)
            self.calls[key] = self.calls.get(key, 0) + 1
            count, total = self.seconds.get((server, req.name), (0, 0.0))
            self.seconds[(server, req.name)] = (count + 1, total + duration_ms / 1000.0)

    @staticmethod
    async def _emit(sink: EventSink, event: ToolEvent) -> None:
        try:
            await sink.emit(event)
        except Exception:
            _log.exception("event sink %s failed on a tool call's event", sink.name)

    # -- the catalogue

    def _refresh(self) -> None:
        encoded = _ENCODE.encode(self.pool.tools())
        if encoded != self._catalog:
            self._catalog = encoded
            self._revision += 1
            self._broadcast(self.catalog())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CATALOG_SECS)
            try:
                self._refresh()
            except Exception:
                _log.exception("cannot refresh the MCP tool catalogue")
