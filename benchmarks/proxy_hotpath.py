"""CPU cost of one reverse-proxied request, in process, without sockets or load generator.

The real classes run (``HttpProtocol`` → ``build_app`` → router → pool →
``UpstreamConnection`` → relay) on a uvloop loop; only the two transports are
fakes. The client transport feeds the next request when a response is written;
the upstream transport answers each request from the next loop iteration with a
canned nginx-like response. So the figure is the Python hot path alone: what
the gateway adds on top of the syscalls any proxy pays. It is stable on a busy
machine (process CPU time, not wall clock), which makes it the yardstick for
hot-path changes.

    .venv/bin/python -m benchmarks.proxy_hotpath                 # µs per request
    .venv/bin/python -m benchmarks.proxy_hotpath --profile       # + cProfile top 30
    .venv/bin/python -m benchmarks.proxy_hotpath --conns 32 --requests 50000
    .venv/bin/python -m benchmarks.proxy_hotpath --opcodes       # bytecodes per request

``--opcodes`` counts the bytecodes executed per request, by function (a trace of
two runs of N and 2N requests, differenced, so setup drops out): deterministic,
hence the quickest way to see whether a change made the hot path shorter.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from benchmarks.opcodes import print_opcodes
from ferrogate._fastpath.http1 import HttpProtocol
from ferrogate._fastpath.pool import PoolSet, UpstreamPool
from ferrogate._fastpath.state import ServerState
from ferrogate._fastpath.upstream import ConnState, UpstreamConnection, Watchdog
from ferrogate.app import WorkerState, build_app
from ferrogate.config.load import load_config

CONFIG = """
listen = ["127.0.0.1:0"]

[[upstreams]]
name = "mock"
urls = ["http://127.0.0.1:9"]

[[routes]]
name = "proxy"
upstream = "mock"
"""

# What wrk sends and what the nginx mock answers for GET / (benchmarks/nginx.py).
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
UPSTREAM_BODY = b'{"ok":true,"service":"mock"}\n'
UPSTREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 05:00:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n%b"
    % (len(UPSTREAM_BODY), UPSTREAM_BODY)
)


class _UpstreamTransport:
    """Answers every request written to it on the next loop iteration."""

    __slots__ = ("loop", "protocol")

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: UpstreamConnection) -> None:
        self.loop = loop
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.loop.call_soon(self.protocol.data_received, UPSTREAM_RESPONSE)

    def writelines(self, parts: Any) -> None:
        self.write(b"".join(parts))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        raise AssertionError("the benchmark upstream connection was closed")

    abort = close

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _ClientTransport:
    """A keep-alive client: each complete response triggers the next request."""

    __slots__ = ("done", "left", "loop", "protocol")

    def __init__(self, loop: asyncio.AbstractEventLoop, requests: int, done: asyncio.Future[None]) -> None:
        self.loop = loop
        self.left = requests
        self.done = done
        self.protocol: HttpProtocol | None = None

    def write(self, data: bytes) -> None:
        if not data.startswith(b"HTTP/1.1 200 "):
            raise AssertionError(f"unexpected response: {data[:200]!r}")
        self.left -= 1
        if self.left > 0:
            assert self.protocol is not None
            self.loop.call_soon(self.protocol.data_received, REQUEST)
        elif not self.done.done():
            self.done.set_result(None)

    def writelines(self, parts: Any) -> None:
        self.write(b"".join(parts))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        raise AssertionError("the benchmark client connection was closed")

    abort = close

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default


def _warm_pool(
    pool: UpstreamPool,
    loop: asyncio.AbstractEventLoop,
    conns: int,
    transport: type[_UpstreamTransport] = _UpstreamTransport,
) -> None:
    """Put ``conns`` idle fake-transport connections in the pool (no real connect);
    ``transport`` answers what is written to them."""
    watchdog = Watchdog(loop, interval=3600.0)  # no deadline ticks: deterministic counts
    pool._watchdog = watchdog
    for _ in range(conns):
        conn = UpstreamConnection(loop, pool._release_cb, watchdog)
        conn.connection_made(transport(loop, conn))  # type: ignore[arg-type]
        conn.state = ConnState.IDLE
        conn.idle_since = loop.time()
        pool._idle.append(conn)


async def run(requests: int, conns: int) -> float:
    """Serve ``requests`` over ``conns`` connections; returns CPU seconds spent."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(CONFIG)
        config = load_config(path)
    pools = PoolSet()
    state = WorkerState(
        slot=0, generation=1, revision="bench", config_path=Path("bench.toml"),
        admin_address=None, ipc_path="", pools=pools,
    )
    app = build_app(config, state)
    pool = pools.pools()[0]
    _warm_pool(pool, loop, conns)
    server = ServerState(app, config.limits, loop)
    per_conn = requests // conns
    waits: list[asyncio.Future[None]] = []
    protocols: list[HttpProtocol] = []
    for _ in range(conns):
        done: asyncio.Future[None] = loop.create_future()
        transport = _ClientTransport(loop, per_conn, done)
        protocol = HttpProtocol(server)
        transport.protocol = protocol
        protocol.connection_made(transport)  # type: ignore[arg-type]
        waits.append(done)
        protocols.append(protocol)
    start = time.process_time()
    for protocol in protocols:
        protocol.data_received(REQUEST)
    await asyncio.gather(*waits)
    spent = time.process_time() - start
    if pool.connects:
        raise AssertionError("the pool opened a real connection")
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=40_000)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="report the best of N rounds")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one round")
    ap.add_argument("--opcodes", action="store_true", help="count bytecodes per request instead")
    args = ap.parse_args()
    if args.opcodes:
        print_opcodes("proxy hot path", lambda n: run(n, 32), min(args.requests, 32 * 40), warmup=64)
        return
    best = float("inf")
    for _ in range(args.rounds):
        spent = uvloop.run(run(args.requests, args.conns))
        best = min(best, spent)
    n = args.requests // args.conns * args.conns
    print(f"proxy hot path: {best / n * 1e6:.2f} µs CPU per request (best of {args.rounds}, {n} requests, {args.conns} conns)")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        uvloop.run(run(args.requests, args.conns))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
