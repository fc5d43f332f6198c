"""Event sinks: where the control process sends what tools did (the extension surface for it).

A sink is anything with a ``name`` and an ``emit(event)`` coroutine. The MCP host emits
one :class:`ToolEvent` per tool call, after the call and never in its way: a sink that
fails or is slow costs the caller nothing (its failure is logged). The built-in sink is
the audit log (:class:`AuditLogSink`); ``GET /admin/v1/extensions`` lists the sinks in use.

An event names who ran what and how it went, never the arguments or the result: those
may hold secrets, and a sink may ship events off the node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec


class ToolEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    request_id: str
    key_id: str | None
    tool: str
    server: str
    tool_session_id: str
    outcome: str  # ok | tool_error | error
    status: int
    error_code: str | None
    duration_ms: float


class EventSink(Protocol):
    name: str

    async def emit(self, event: ToolEvent) -> None: ...


Audit = Callable[[str, str, str, dict[str, object]], Awaitable[None]]
"""(actor, action, target, change): records an audit event (``ObjectManager.note``)."""


class AuditLogSink:
    """Every tool call as a ``tool.execute`` audit event, actor the key that ran it."""

    name = "audit_log"

    def __init__(self, audit: Audit) -> None:
        self._audit = audit

    async def emit(self, event: ToolEvent) -> None:
        actor = f"key:{event.key_id}" if event.key_id else "anonymous"
        change: dict[str, object] = {
            "request_id": event.request_id,
            "tool_session_id": event.tool_session_id,
            "outcome": event.outcome,
            "status": event.status,
            "error_code": event.error_code,
        }
        await self._audit(actor, "tool.execute", event.tool, change)
