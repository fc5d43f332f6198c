"""Why a tool call did not run, each with the HTTP status the endpoints answer.

They are ``GatewayError`` subclasses so the control process can render them as they are.
Messages name servers and tools, never header values or environment values.
"""

from __future__ import annotations

from ferrogate.errors import ErrorSource, GatewayError


class McpError(GatewayError):
    """Base of the MCP layer's errors."""


class McpUnknownTool(McpError):
    def __init__(self, name: str) -> None:
        super().__init__(404, f"unknown tool `{name}`", code="tool_not_found")


class McpToolNotAllowed(McpError):
    def __init__(self, name: str) -> None:
        super().__init__(403, f"tool `{name}` is not in its server's tools_to_execute", code="tool_not_allowed")


class McpInvalidArguments(McpError):
    """The arguments fail the tool's input schema; ``param`` is the JSON path of the bad field."""

    def __init__(self, name: str, path: str, reason: str) -> None:
        super().__init__(400, f"invalid arguments for tool `{name}` at {path}: {reason}", code="invalid_tool_arguments", param=path)


class McpServerUnavailable(McpError):
    def __init__(self, server: str, reason: str) -> None:
        super().__init__(503, f"MCP server `{server}` is unavailable: {reason}", code="mcp_server_unavailable", source=ErrorSource.UPSTREAM)


class McpToolTimeout(McpError):
    def __init__(self, name: str, timeout_s: float) -> None:
        super().__init__(504, f"tool `{name}` did not answer within {timeout_s:g}s", code="tool_timeout", source=ErrorSource.UPSTREAM)


class McpToolFailed(McpError):
    """The server answered the call with a protocol error (not a tool result with ``isError``)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(502, f"tool `{name}` failed on its server: {reason}", code="tool_failed", source=ErrorSource.UPSTREAM)
