"""Open the SDK transport one ``[[mcp_servers]]`` entry names, with its credentials.

Credentials (``auth_type``):

- ``none``: no headers are sent (validation refuses headers with it);
- ``headers``: every ``[[mcp_servers.headers]]`` entry is sent as it is;
- ``bearer``: the first entry's value is the token, sent as ``Authorization: Bearer <token>``
  (a value that already starts with ``Bearer `` is sent unchanged); further entries as they are.

Values come from ``value`` or from the environment mapping the caller passes (``value_env``).
They exist only in the returned headers and the HTTP client: :func:`secret_values` lets the
session scrub them from any error text it keeps.

stdio servers get ``env`` merged over the SDK's minimal environment (HOME, LOGNAME, PATH,
SHELL, TERM, USER), never the gateway's own environment.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TextIO

import httpx2
from mcp import StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from ferrogate.config.model import McpServer

# How long an idle SSE stream may stay silent before the client gives up on it; the
# session's pings keep it busier than that.
SSE_READ_TIMEOUT_S = 300.0


class MissingCredential(Exception):
    """A header's ``value_env`` is not set (the message names the variable, not a value)."""


def _header_value(server: McpServer, index: int, env: Mapping[str, str]) -> str:
    header = server.headers[index]
    if header.value is not None:
        return header.value
    value = env.get(header.value_env or "")
    if value is None:
        raise MissingCredential(f"header `{header.name}`: environment variable `{header.value_env}` is not set")
    return value


def request_headers(server: McpServer, env: Mapping[str, str]) -> dict[str, str]:
    """The headers every HTTP request to ``server`` carries (see the module docstring)."""
    if server.auth_type == "none":
        return {}
    headers: dict[str, str] = {}
    for i, header in enumerate(server.headers):
        value = _header_value(server, i, env)
        if server.auth_type == "bearer" and i == 0:
            headers["Authorization"] = value if value.startswith("Bearer ") else f"Bearer {value}"
        else:
            headers[header.name] = value
    return headers


def secret_values(server: McpServer, env: Mapping[str, str]) -> tuple[str, ...]:
    """Every configured header value that resolves, longest first (what to scrub from text)."""
    found: list[str] = []
    for header in server.headers:
        value = header.value if header.value is not None else env.get(header.value_env or "")
        if value:
            found.append(value)
    return tuple(sorted(found, key=len, reverse=True))


@asynccontextmanager
async def open_transport(
    server: McpServer,
    env: Mapping[str, str],
    *,
    connect_timeout_s: float,
    errlog: TextIO | None = None,
) -> AsyncIterator[tuple[Any, Any]]:
    """The ``(read, write)`` stream pair to ``server``; enter and exit it in one task."""
    async with AsyncExitStack() as stack:
        if server.transport == "stdio":
            params = StdioServerParameters(command=server.command or "", args=list(server.args), env=dict(server.env))
            streams = await stack.enter_async_context(stdio_client(params, errlog=errlog or sys.stderr))
        elif server.transport == "sse":
            streams = await stack.enter_async_context(
                sse_client(
                    server.url or "",
                    headers=request_headers(server, env),
                    timeout=connect_timeout_s,
                    sse_read_timeout=SSE_READ_TIMEOUT_S,
                )
            )
        else:
            client = httpx2.AsyncClient(
                headers=request_headers(server, env),
                timeout=httpx2.Timeout(connect_timeout_s, read=SSE_READ_TIMEOUT_S),
            )
            await stack.enter_async_context(client)
            streams = await stack.enter_async_context(streamable_http_client(server.url or "", http_client=client))
        yield streams[0], streams[1]
