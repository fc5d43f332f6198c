"""The MCP side of the admin API: servers, tools, tool sessions and the extension surface.

``GET /admin/v1/mcp-servers`` (state, protocol version, tools, last error, reconnects;
never a header value), ``GET /admin/v1/tools`` (the node's catalogue, with what may
run), ``GET /admin/v1/tool-sessions/{id}`` (every step of one tool session) and
``GET /admin/v1/extensions`` (what is plugged in: the MCP servers as tool providers and
the built-in request hooks and event sinks). Without ``[[mcp_servers]]`` the lists are
empty and a tool session is 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec

from ferrogate.errors import GatewayError
from ferrogate.pipeline.request_hooks import BUILT_IN_HOOKS

if TYPE_CHECKING:  # the mcp SDK is imported only when [[mcp_servers]] are configured
    from ferrogate.control.mcp_host import McpHost

Headers = list[tuple[bytes, bytes]]
AdminResponse = tuple[int, Headers, bytes]
Endpoint = Callable[[bytes, bytes], Awaitable[AdminResponse]]

SESSION_PREFIX = "/admin/v1/tool-sessions/"

_JSON: Headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
_encode = msgspec.json.Encoder().encode


class Extension(msgspec.Struct, kw_only=True):
    name: str
    kind: str  # tool_provider, request_hook, event_sink
    description: str
    enabled: bool


class ToolsApi:
    __slots__ = ("_host",)

    def __init__(self, host: Callable[[], McpHost | None]) -> None:
        self._host = host  # None until the MCP host has started (or without [[mcp_servers]])

    def routes(self) -> dict[str, dict[str, Endpoint]]:
        return {
            "/admin/v1/mcp-servers": {"GET": self._servers},
            "/admin/v1/tools": {"GET": self._tools},
            "/admin/v1/extensions": {"GET": self._extensions},
        }

    @staticmethod
    def owns(path: str) -> bool:
        return path.startswith(SESSION_PREFIX) and len(path) > len(SESSION_PREFIX)

    async def session(self, path: str) -> AdminResponse:
        session_id = path[len(SESSION_PREFIX):]
        host = self._host()
        found = await host.session(session_id) if host is not None else None
        if found is None:
            raise GatewayError(404, f"no tool session `{session_id[:64]}`", code="not_found")
        return 200, _JSON, _encode(found)

    async def _servers(self, query: bytes, body: bytes) -> AdminResponse:
        host = self._host()
        return 200, _JSON, _encode({"object": "list", "data": host.servers() if host is not None else []})

    async def _tools(self, query: bytes, body: bytes) -> AdminResponse:
        host = self._host()
        return 200, _JSON, _encode({"object": "list", "data": host.tools() if host is not None else []})

    async def _extensions(self, query: bytes, body: bytes) -> AdminResponse:
        host = self._host()
        servers = host.servers() if host is not None else []
        data = [
            Extension(name=f"mcp:{s.name}", kind="tool_provider", enabled=True,
                      description=f"MCP server over {s.transport}: {s.tool_count} tools, {s.state}")
            for s in servers
        ]
        data += [
            Extension(name=hook.name, kind="request_hook", enabled=True,
                      description=_first_line(hook.__doc__) + " (x-ferrogate-tools: auto)")
            for hook in BUILT_IN_HOOKS
        ]
        # The audit log is always on (admin writes); with MCP servers it is also the tool calls' sink.
        data.append(Extension(name="audit_log", kind="event_sink", enabled=True,
                              description="admin writes and tool calls as audit events (/admin/v1/audit-events)"))
        data += [
            Extension(name=sink.name, kind="event_sink", enabled=True, description=_first_line(sink.__doc__))
            for sink in (host.sinks if host is not None else ())
            if sink.name != "audit_log"
        ]
        return 200, _JSON, _encode({"object": "list", "data": data})


def _first_line(doc: str | None) -> str:
    """A docstring's first sentence, on one line."""
    text = " ".join((doc or "").split())
    return text.split(". ")[0].rstrip(".")
