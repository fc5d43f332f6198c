"""The plain, JSON-ready values the MCP layer hands out: tools, call results, server status.

msgspec Structs so the control process can encode them as they are (admin views, IPC).
Nothing here carries a header value or an environment value.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

SessionState = Literal["connecting", "ready", "down", "closed"]


class UpstreamTool(msgspec.Struct, frozen=True, kw_only=True):
    """One tool as its server lists it (bare name)."""

    name: str
    description: str | None = None
    input_schema: dict[str, Any] = {}


class CatalogTool(msgspec.Struct, frozen=True, kw_only=True):
    """One tool as clients see it: namespaced, after ``tool_include``, with what may run."""

    name: str  # serverName-toolName
    server: str
    tool: str  # the server's own name for it
    description: str | None
    input_schema: dict[str, Any]
    executable: bool
    auto_execute: bool


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """A ``tools/call`` answer in MCP's own field names, plus how long it took."""

    content: list[dict[str, Any]]
    is_error: bool = msgspec.field(name="isError")
    structured_content: dict[str, Any] | None = msgspec.field(default=None, name="structuredContent")
    duration_ms: float


class ServerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One upstream session as the admin API shows it."""

    name: str
    transport: str
    state: SessionState
    protocol_version: str | None
    server_name: str | None
    server_version: str | None
    tool_count: int
    tools: list[str]
    last_error: str | None
    reconnects: int
    connected_since: float | None  # unix time of the current session's initialize, None when not ready
