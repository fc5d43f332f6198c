"""An MCP server on the official SDK for the MCP session tests (stdio, streamable HTTP, SSE).

    python -m tests.support.mcp_test_server stdio
    python -m tests.support.mcp_test_server http|sse [--port N] [--require-header NAME=VALUE]

Tools: ``add(a, b)``, ``echo(text)``, ``fail()`` (raises: the result has ``isError``),
``slow(seconds)`` (async sleep, so pings still answer meanwhile) and ``grow()``, which adds the
tool ``grown`` at run time and sends ``notifications/tools/list_changed``.

The HTTP transports bind 127.0.0.1 (port 0 unless ``--port``: a restart on the same port) and
print ``PORT <n>`` on stdout once uvicorn is serving: the readiness signal the tests read.
Streamable HTTP answers at ``/mcp``, SSE at ``/sse`` (+ ``/messages/``). With
``--require-header`` every HTTP request without that exact header gets 401.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer

server: MCPServer = MCPServer("ferrogate-test-mcp", version="1.0.0", log_level="CRITICAL")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Echo text back."""
    return text


@server.tool()
def fail() -> str:
    """Always raises (the client sees isError)."""
    raise RuntimeError("tool failed on purpose")


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep for `seconds` (at most 30) without blocking the server."""
    await anyio.sleep(min(seconds, 30.0))
    return "done"


def grown() -> str:
    """A tool that exists only after grow() ran."""
    return "grown"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool `grown` and tell the client the tool list changed."""
    if "grown" not in {t.name for t in await server.list_tools()}:
        server.add_tool(grown, name="grown")
    await ctx.session.send_tool_list_changed()
    return "grew"


class RequireHeader:
    """ASGI wrapper answering 401 to any HTTP request without the configured header."""

    def __init__(self, app: Any, name: str, value: str) -> None:
        self.app = app
        self.name = name.lower().encode("latin-1")
        self.value = value.encode("latin-1")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(self.name) != self.value:
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"missing credentials"})
            return
        await self.app(scope, receive, send)


async def serve_http(transport: str, port: int, require_header: str | None) -> None:
    app: Any = server.streamable_http_app() if transport == "http" else server.sse_app()
    if require_header:
        name, _, value = require_header.partition("=")
        app = RequireHeader(app, name, value)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(uv.serve, [sock])
        while not uv.started:
            await anyio.sleep(0.01)
        print(f"PORT {sock.getsockname()[1]}", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("transport", choices=["stdio", "http", "sse"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--require-header", default=None, help="NAME=VALUE every HTTP request must carry")
    args = parser.parse_args(argv)
    if args.transport == "stdio":
        server.run("stdio")
    else:
        anyio.run(serve_http, args.transport, args.port, args.require_header)


if __name__ == "__main__":
    main(sys.argv[1:])
