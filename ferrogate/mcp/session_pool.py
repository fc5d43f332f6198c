"""The node's MCP sessions: one :class:`UpstreamSession` per configured server, and the tool
catalogue built from what they list.

The catalogue holds every tool ``tool_include`` lets through, namespaced
``serverName-toolName``, with whether it may run (``tools_to_execute``: deny by default)
and whether the gateway may run it on its own (``tools_to_auto_execute``). A call is
checked here before it goes upstream: an unknown tool, one that may not run, and
arguments that fail the tool's input schema never reach the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from ferrogate.config.model import McpServer
from ferrogate.mcp import tool_names
from ferrogate.mcp.errors import McpInvalidArguments, McpToolNotAllowed, McpUnknownTool
from ferrogate.mcp.model import CatalogTool, ServerStatus, ToolResult
from ferrogate.mcp.upstream_session import UpstreamSession

FIRST_CONNECT_SECS = 10.0  # start() waits this long for the first connections, then goes on


class McpSessions:
    def __init__(self, servers: list[McpServer], *, env: Mapping[str, str] | None = None,
                 **session_options: Any) -> None:
        self._env = env if env is not None else {}
        self._options = session_options  # UpstreamSession's timing knobs (tests make them short)
        self._sessions: dict[str, UpstreamSession] = {}
        self._servers: dict[str, McpServer] = {s.name: s for s in servers}

    async def start(self) -> None:
        """Open every session and wait (bounded) for their first connection attempts."""
        for server in self._servers.values():
            self._open(server)
        await self._settle(list(self._sessions.values()))

    async def apply(self, servers: list[McpServer]) -> None:
        """Follow a new server list: open new ones, close removed or changed ones (changed
        ones are opened again), keep the rest as they are."""
        wanted = {s.name: s for s in servers}
        closing = [self._sessions.pop(name) for name, old in list(self._servers.items())
                   if name in self._sessions and wanted.get(name) != old]
        await asyncio.gather(*(s.close() for s in closing))
        self._servers = wanted
        opened = [self._open(s) for name, s in wanted.items() if name not in self._sessions]
        await self._settle(opened)

    async def stop(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))

    def tools(self) -> list[CatalogTool]:
        out: list[CatalogTool] = []
        for name, session in self._sessions.items():
            server = self._servers[name]
            for t in session.tools:
                if not tool_names.included(server.tool_include, name, t.name):
                    continue
                out.append(CatalogTool(
                    name=tool_names.namespaced(name, t.name),
                    server=name,
                    tool=t.name,
                    description=t.description,
                    input_schema=t.input_schema,
                    executable=tool_names.executable(server.tools_to_execute, name, t.name),
                    auto_execute=tool_names.auto_executable(
                        server.tools_to_execute, server.tools_to_auto_execute, name, t.name),
                ))
        return out

    def status(self) -> list[ServerStatus]:
        return [s.status() for s in self._sessions.values()]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        found = tool_names.split_namespaced(name, self._sessions)
        tool = None
        if found is not None:
            server_name, bare = found
            tool = next((t for t in self.tools() if t.server == server_name and t.tool == bare), None)
        if tool is None:
            raise McpUnknownTool(name)
        if not tool.executable:
            raise McpToolNotAllowed(name)
        _check_arguments(name, tool.input_schema, arguments)
        server = self._servers[tool.server]
        return await self._sessions[tool.server].call_tool(tool.tool, arguments, server.timeout_ms / 1000.0)

    def _open(self, server: McpServer) -> UpstreamSession:
        session = self._sessions[server.name] = UpstreamSession(server, env=self._env, **self._options)
        session.start()
        return session

    async def _settle(self, sessions: list[UpstreamSession]) -> None:
        await asyncio.gather(*(s.wait_settled(FIRST_CONNECT_SECS) for s in sessions))


def _check_arguments(name: str, schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """400 naming the first bad field when ``arguments`` fail the tool's input schema."""
    if not schema:
        return
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    except SchemaError:
        return  # the server's schema is broken: let the server judge the arguments
    if error is None:
        return
    path = "arguments" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    raise McpInvalidArguments(name, path, error.message)
