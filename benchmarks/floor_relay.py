"""The most a CPython gateway can reach against nginx here: a bare relay, measured beside it.

``serve`` runs the least an HTTP/1.1 gateway on the gateway's own stack (uvloop and
httptools, two processes sharing one listening socket) must do per request: parse the
request's framing, write its bytes to a keep-alive upstream connection paired with the
client's, parse the response's framing, write its bytes back. Nothing is routed, no
field is read or edited, no JSON is parsed, nothing is recorded. Any gateway written in
CPython on this stack pays at least this, so its ratio to nginx ``proxy_pass`` bounds
every "x nginx" target: a target above this floor's ratio cannot be met by Python code,
however lean, only by moving the relay out of the interpreter.

The harness loads nginx, the floor and FerroGate (reverse-proxy route for ``get_small``,
AI route for ``chat`` and ``chat_stream``) against the same nginx mock, interleaved, and prints each
repetition's ratios and the gateway's CPU per request::

    .venv/bin/python -m benchmarks.floor_relay --duration 6 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import sys
import tempfile
from pathlib import Path
from typing import cast

import httptools
import uvloop

from benchmarks import cpu
from benchmarks.gateway import CLIENT_KEY, start_gateway
from benchmarks.nginx import start_mock, start_proxy
from benchmarks.payloads import request_bodies
from benchmarks.procs import (
    LOOPBACK,
    Service,
    raw_request,
    start_service,
    stop_service,
    wait_for_service,
    wait_until_serving,
)
from benchmarks.wrk import run_wrk, wrk_command

_READY = re.compile(rb"FLOOR_READY (\d+)")
# scenario -> (path, body name or None)
SCENARIOS = {
    "get_small": ("/", None),
    "chat": ("/v1/chat/completions", "chat"),
    "chat_stream": ("/stream/v1/chat/completions", "chat_stream"),
}
_GATEWAY_PATHS = {"get_small": "/", "chat": "/v1/chat/completions", "chat_stream": "/v1/chat/completions"}


class _Upstream(asyncio.Protocol):
    """The upstream side of one client connection: relays the response's bytes as they come."""

    __slots__ = ("client", "parser", "transport")

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)  # framing only: where this response ends
        self.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class _Client(asyncio.Protocol):
    """One client connection and its upstream connection, opened with it."""

    __slots__ = ("closed", "early", "loop", "parser", "transport", "upstream", "upstream_port")

    def __init__(self, loop: asyncio.AbstractEventLoop, upstream_port: int) -> None:
        self.loop = loop
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.upstream: _Upstream | None = None
        self.early: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        _, upstream = await self.loop.create_connection(lambda: _Upstream(self), LOOPBACK, self.upstream_port)
        self.upstream = upstream
        assert upstream.transport is not None
        if self.closed:  # the client left while this connection was being made
            upstream.transport.close()
            return
        for data in self.early:
            upstream.transport.write(data)
        self.early.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)  # framing only: a malformed request closes the connection
        except httptools.HttpParserError:
            self.close()
            return
        upstream = self.upstream
        if upstream is None or upstream.transport is None:
            self.early.append(data)
        else:
            upstream.transport.write(data)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        upstream = self.upstream
        if upstream is not None and upstream.transport is not None:
            upstream.transport.close()


def _relay_forever(sock: socket.socket, upstream_port: int) -> None:
    """One relay process: serve ``sock`` until killed."""
    loop = uvloop.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: _Client(loop, upstream_port), sock=sock, backlog=4096)
    )
    try:
        loop.run_forever()
    finally:
        server.close()


def serve(upstream_port: int, workers: int) -> None:
    """Bind 127.0.0.1:0, print the port, and relay in ``workers`` forked processes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    sock.listen(4096)
    sock.setblocking(False)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                _relay_forever(sock, upstream_port)
            finally:
                os._exit(0)
        children.append(pid)
    print(f"FLOOR_READY {sock.getsockname()[1]}", flush=True)
    for pid in children:
        os.waitpid(pid, 0)


def _start_floor(work: Path, upstream_port: int, workers: int) -> Service:
    work.mkdir(parents=True, exist_ok=True)
    service = start_service("floor", [sys.executable, "-m", "benchmarks.floor_relay", "serve",
                                      "--upstream", str(upstream_port), "--workers", str(workers)], work)

    def ready_port() -> int | None:
        found = _READY.search(service.log_path.read_bytes())
        return int(found.group(1)) if found else None

    service.port = wait_for_service(service, ready_port, 20, "FLOOR_READY line")
    wait_until_serving(service, raw_request("GET", "/"), deadline_secs=10)
    return service


def _load(service: Service, path: str, body_file: Path | None, connections: int, duration: float) -> tuple[float, float | None]:
    """(requests/s, CPU us per request of the service's process tree)."""
    argv = wrk_command(f"http://{LOOPBACK}:{service.port}{path}", connections=connections, duration_s=duration,
                       headers=[("Authorization", f"Bearer {CLIENT_KEY}")], post=body_file is not None)
    env = dict(os.environ)
    if body_file is not None:
        env["FG_BENCH_BODY_FILE"] = str(body_file)
    before = cpu.snapshot([service.pid])[service.pid]
    result, _ = run_wrk(argv, env)
    if result.errors:
        raise RuntimeError(f"{service.name} {path}: {result.errors} errors")
    after = cpu.snapshot([service.pid])[service.pid]
    return result.rps, cpu.us_per_request(before, after, result.requests)


def measure(duration: float, reps: int, connections: int, workers: int, settle: float) -> None:
    with tempfile.TemporaryDirectory(prefix="fg-floor-") as tmp:
        work = Path(tmp)
        services: list[Service] = []
        try:
            mock = start_mock(work / "mock")
            services.append(mock)
            nginx = start_proxy(work / "nginx", mock.port, workers)
            services.append(nginx)
            floor = _start_floor(work / "floor", mock.port, workers)
            services.append(floor)
            gateway = start_gateway(work / "ferrogate", mock.port, ai=True, workers=workers)
            services.append(gateway)
            bodies = request_bodies()
            targets = (("nginx", nginx), ("floor", floor), ("ferrogate", gateway))
            for scenario, (path, body) in SCENARIOS.items():
                body_file = None
                if body is not None:
                    body_file = work / f"{body}.json"
                    body_file.write_bytes(bodies[body])
                for name, service in targets:  # warm-up
                    _load(service, _GATEWAY_PATHS[scenario] if name == "ferrogate" else path, body_file, connections, 1)
                ratios: dict[str, list[float]] = {"floor": [], "ferrogate": []}
                for rep in range(1, reps + 1):
                    rps: dict[str, float] = {}
                    line = []
                    for name, service in targets:
                        if settle:
                            cpu.wait_for_quiet(settle)
                        rate, us = _load(service, _GATEWAY_PATHS[scenario] if name == "ferrogate" else path,
                                         body_file, connections, duration)
                        rps[name] = rate
                        line.append(f"{name} {rate:,.0f} req/s {us or 0:.1f} us/req")
                    for name in ratios:
                        ratios[name].append(rps[name] / rps["nginx"])
                    print(f"{scenario} rep {rep}: " + "; ".join(line)
                          + f"; floor x nginx {rps['floor'] / rps['nginx']:.3f}"
                          + f"; ferrogate x nginx {rps['ferrogate'] / rps['nginx']:.3f}", flush=True)
                print(f"{scenario}: median floor x nginx {statistics.median(ratios['floor']):.3f}, "
                      f"ferrogate x nginx {statistics.median(ratios['ferrogate']):.3f}", flush=True)
        finally:
            for service in reversed(services):
                stop_service(service)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command")
    srv = sub.add_parser("serve", help="run the bare relay (the harness starts it)")
    srv.add_argument("--upstream", type=int, required=True)
    srv.add_argument("--workers", type=int, default=2)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--settle", type=float, default=10.0)
    args = ap.parse_args()
    if args.command == "serve":
        serve(args.upstream, args.workers)
    else:
        measure(args.duration, args.reps, args.connections, args.workers, args.settle)


if __name__ == "__main__":
    main()
