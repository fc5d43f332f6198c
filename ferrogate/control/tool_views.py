"""What the MCP routes answer: a tool call's result and the tool sessions, as JSON structs.

Apart from the MCP host so the OpenAPI document can describe them without importing the
mcp SDK.
"""

from __future__ import annotations

from typing import Any

import msgspec


class ToolStep(msgspec.Struct, kw_only=True):
    """One step of a tool session: a tool call (``kind`` "tool"), or a model call of an
    automatic tool loop (``kind`` "model": its model, tokens and the tools it asked for)."""

    at: float
    request_id: str
    key_id: str | None
    kind: str = "tool"
    tool: str | None = None
    server: str | None = None
    arguments: Any = None
    result: Any = None  # the tool's content blocks (a note when they were too large to keep)
    status: int = 200
    is_error: bool | None = None
    error_code: str | None = None
    duration_ms: float = 0.0
    model: str | None = None
    provider: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    tool_calls: list[str] | None = None


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
