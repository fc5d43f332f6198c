"""Run the fast-path server with the worker's app (its router) in-process, on 127.0.0.1:0."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from ferrogate._fastpath.api import Handler
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.server import HttpServer
from ferrogate.app import WorkerState, build_app
from ferrogate.config.model import Config, Limits


def make_config(**sections: Any) -> Config:
    """A Config from plain TOML-shaped data (``upstreams=[...]``, ``routes=[...]``)."""
    return msgspec.convert(sections, Config)


class Gateway:
    def __init__(self, port: int, pools: PoolSet) -> None:
        self.port = port
        self.pools = pools
        self.url = f"http://127.0.0.1:{port}"


@asynccontextmanager
async def serve(handler: Handler, limits: Limits | None = None) -> AsyncIterator[int]:
    """Serve ``handler``; yields the bound port; shuts the server down at exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = HttpServer(handler, limits or Limits())
    try:
        await server.start(sock)
        yield sock.getsockname()[1]
    finally:
        await server.shutdown(1.0)
        sock.close()


@asynccontextmanager
async def gateway(
    config: Config, *, env: Mapping[str, str] | None = None
) -> AsyncIterator[Gateway]:
    pools = PoolSet()
    handler = build_app(config, WorkerState(pools=pools), env=env or {})
    try:
        async with serve(handler, config.limits) as port:
            yield Gateway(port, pools)
    finally:
        pools.close()
