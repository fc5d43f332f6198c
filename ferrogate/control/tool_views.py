"""What the MCP routes answer: a tool call's result and the tool sessions, as JSON structs.

Apart from the MCP host so the OpenAPI document can describe them without importing the
mcp SDK.
"""

from __future__ import annotations

from typing import Any

import msgspec


class ToolStep(msgspec.Struct, kw_only=True):
    at: float
    request_id: str
    key_id: str | None
    tool: str
    server: str
    arguments: Any
    status: int
    is_error: bool | None
    error_code: str | None
    duration_ms: float


class ToolSession(msgspec.Struct, kw_only=True):
    id: str
    created_at: float
    key_id: str | None
    steps: list[ToolStep]


class ToolExecution(msgspec.Struct, kw_only=True):
    """The answer of ``POST /v1/tools/execute``."""

    object: str
    name: str
    server: str
    content: list[dict[str, Any]]
    isError: bool
    structuredContent: dict[str, Any] | None
    duration_ms: float
    tool_session_id: str
