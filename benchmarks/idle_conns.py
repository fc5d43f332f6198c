"""Idle keep-alive connections: what each open idle client connection costs in memory.

Gateways hold many client connections that sit idle between requests (SDK pools, agents
waiting on tools). Behind both targets is the nginx mock. For each target (nginx
``proxy_pass``, 2 workers; FerroGate, 2 workers, reverse-proxy route) this opens
``--connections`` keep-alive connections (256 at a time), makes one small request on each
(``GET /``, proxied to the mock) so they are real HTTP connections, and holds them idle for
``--hold`` seconds. It reports:

- opened / refused connections, and how many were still open after the hold;
- how many answered a second request after the hold (the gateway still serves them);
- the RSS of the target's process tree (FerroGate: supervisor, workers and control process;
  nginx: master and workers; ``VmRSS`` from /proc) before, with every connection idle, and
  after they closed; and the growth per idle connection in KB (target: <= 8 KB).

The client raises its RLIMIT_NOFILE to the hard limit (the targets, started by it,
inherit it); nginx gets ``worker_connections`` to fit.

    .venv/bin/python -m benchmarks.idle_conns --connections 10000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import nginx
from benchmarks.gateway import start_gateway
from benchmarks.procs import LOOPBACK, Service, stop_service
from benchmarks.scenario import (
    check_line,
    raise_nofile,
    run_loop,
    start_wide_proxy,
    tree_rss_kb,
    write_result,
)

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
TARGETS = ("nginx", "ferrogate")


class _Conn(asyncio.Protocol):
    """One keep-alive connection: sends a request when asked, tells when its answer is in."""

    __slots__ = ("buf", "closed", "transport", "waiter")

    def __init__(self) -> None:
        self.buf = b""
        self.closed = False
        self.transport: Any = None
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def ask(self) -> asyncio.Future[int]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.transport.write(REQUEST)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = self.buf[:end].lower()
        at = head.find(b"content-length:")
        if at >= 0:
            length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            complete = len(self.buf) >= end + 4 + length
        else:
            complete = self.buf.endswith(b"0\r\n\r\n")
        if complete:
            self.waiter.set_result(int(self.buf[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(0)


async def _ask_all(conns: list[_Conn], gate: asyncio.Semaphore) -> Counter[int]:
    async def one(conn: _Conn) -> int:
        if conn.closed:
            return 0
        async with gate:
            try:
                return await asyncio.wait_for(conn.ask(), 30)
            except TimeoutError:
                return -1

    return Counter(await asyncio.gather(*(one(c) for c in conns)))


async def _hold(port: int, root: int, count: int, hold: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(256)
    refused: Counter[str] = Counter()

    async def open_one() -> _Conn | None:
        async with gate:
            try:
                _, conn = await loop.create_connection(_Conn, LOOPBACK, port)
            except OSError as exc:
                refused[type(exc).__name__] += 1
                return None
            try:
                status = await asyncio.wait_for(conn.ask(), 30)
            except TimeoutError:
                status = -1
            if status != 200:
                refused[f"first request: {status or 'closed'}"] += 1
            return conn

    warm = [c for c in await asyncio.gather(*(open_one() for _ in range(64))) if c]
    for conn in warm:  # pools, buffers and caches warm before the baseline
        conn.transport.close()
    await asyncio.sleep(1.0)
    refused.clear()
    before = tree_rss_kb(root)
    t0 = time.monotonic()
    conns = [c for c in await asyncio.gather(*(open_one() for _ in range(count))) if c]
    opened_s = time.monotonic() - t0
    await asyncio.sleep(hold)
    idle = tree_rss_kb(root)
    still_open = sum(not c.closed for c in conns)
    again = await _ask_all(conns, gate)
    for conn in conns:
        conn.transport.close()
    await asyncio.sleep(2.0)
    after = tree_rss_kb(root)
    return {
        "connections": count,
        "opened": len(conns),
        "open_s": round(opened_s, 2),
        "refused": dict(refused),
        "still_open_after_hold": still_open,
        "answered_again": again.get(200, 0),
        "again_other": {str(k): v for k, v in again.items() if k != 200},
        "rss_before_kb": before,
        "rss_idle_kb": idle,
        "rss_after_close_kb": after,
        "kb_per_conn": (idle - before) / max(1, len(conns)),
    }


def measure(
    *, connections: int, hold: float, targets: list[str], workers: int = 2, log: Any = None
) -> dict[str, Any]:
    """Each target in turn; every service stopped in ``finally``."""
    limit = raise_nofile()
    if connections + 256 > limit:
        raise RuntimeError(
            f"RLIMIT_NOFILE hard limit {limit} is too low for {connections} connections"
        )
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fg-idle-") as tmp:
        work = Path(tmp)
        services: list[Service] = []
        try:
            mock = nginx.start_mock(work / "mock")
            services.append(mock)
            for target in targets:
                if target == "nginx":
                    service = start_wide_proxy(work / "nginx", mock.port, workers, connections)
                else:
                    service = start_gateway(
                        work / "ferrogate", mock.port, ai=False, workers=workers
                    )
                services.append(service)
                if log:
                    log(f"[idle] {connections} idle keep-alive connections to {target}")
                rows[target] = run_loop(_hold(service.port, service.pid, connections, hold))
                stop_service(services.pop())
        finally:
            for service in reversed(services):
                stop_service(service)
    return {
        "connections": connections,
        "hold_s": hold,
        "workers": workers,
        "nofile": limit,
        "rows": rows,
    }


def describe(results: dict[str, Any]) -> str:
    lines = [
        f"{results['connections']} keep-alive connections, one GET / each, held idle {results['hold_s']:g} s",
        "| target | opened (refused) | open after hold | answered again | RSS before / idle / after close MB "
        "| KB per idle connection |",
        "|---|---|---|---|---|---|",
    ]
    for target, r in results["rows"].items():
        refused = sum(r["refused"].values())
        lines.append(
            f"| {target} | {r['opened']} ({refused}{' ' + str(r['refused']) if refused else ''}) "
            f"| {r['still_open_after_hold']} | {r['answered_again']}"
            f"{' ' + str(r['again_other']) if r['again_other'] else ''} "
            f"| {r['rss_before_kb'] / 1024:.1f} / {r['rss_idle_kb'] / 1024:.1f} / {r['rss_after_close_kb'] / 1024:.1f} "
            f"| {r['kb_per_conn']:.2f} |"
        )
    return "\n".join(lines)


def checks(results: dict[str, Any]) -> list[str]:
    fg = results["rows"].get("ferrogate")
    if fg is None:
        return []
    n = results["connections"]
    out = [
        check_line(
            f"idle {n}: FerroGate RSS KB per idle connection",
            fg["kb_per_conn"],
            fg["kb_per_conn"] <= 8,
            "<= 8",
        ),
        check_line(
            f"idle {n}: FerroGate connections held and answering again",
            float(fg["answered_again"]),
            fg["answered_again"] == n,
            f"all {n}",
            ",.0f",
        ),
    ]
    ng = results["rows"].get("nginx")
    if ng is not None:
        out.append(f"- [info] idle {n}: nginx RSS KB per idle connection: {ng['kb_per_conn']:.2f}")
    return [line for line in out if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--connections", type=int, default=10000, help="idle connections per target"
    )
    parser.add_argument("--hold", type=float, default=5.0, help="seconds the connections stay idle")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="comma list of nginx,ferrogate"
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    if set(targets) - set(TARGETS):
        parser.error(f"unknown targets: {sorted(set(targets) - set(TARGETS))}")
    results = measure(
        connections=args.connections,
        hold=args.hold,
        targets=targets,
        workers=args.workers,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(describe(results))
    lines = checks(results)
    print("\n### targets\n" + "\n".join(lines))
    path = write_result("idle-conns", {"args": vars(args), "results": results, "targets": lines})
    print(f"(raw results: {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
