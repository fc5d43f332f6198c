"""What every mock upstream in tests shares: a loopback listener on port 0, keep-alive
request reading (Content-Length bodies), and the record of what arrived. Each mock
(mock_openai, mock_anthropic, mock_gemini) only decides how to answer."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Recorded:
    """One request as the mock received it (header names lowercased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def listen_loopback(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], backlog: int
) -> tuple[asyncio.AbstractServer, int]:
    """Start serving on 127.0.0.1:0; return the server and the port the kernel chose."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    return await asyncio.start_server(serve, sock=sock), port


async def close_server(server: asyncio.AbstractServer | None) -> None:
    """Stop listening and drop open client connections."""
    if server is None:
        return
    server.close()
    if hasattr(server, "close_clients"):
        server.close_clients()
    await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> Recorded | None:
    """The next request on a keep-alive connection, or None when the client is gone."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Recorded(method, target, headers, body)
