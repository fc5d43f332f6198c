"""Slow token streams at scale: many concurrent streams of paced small events, through a target.

Real LLM answers are streams of small SSE events spread over seconds; a gateway holds
thousands at once. Here a paced upstream (its own uvloop process, ``--serve``) answers every
request with ``--events`` OpenAI chunk events (~150 bytes, the send time in the content) at
``--rate`` events per second per stream, then a usage chunk and ``[DONE]``; streams start
spread over one interval so ticks do not all land together. The client (this process, raw
asyncio sockets) opens ``--streams`` streams through each target in turn: the upstream
directly, nginx ``proxy_pass`` (buffering off) and FerroGate (2 workers, AI route), and
reports per target:

- CPU µs per relayed event: the target's process tree utime + stime over the run / events;
- event latency p50/p99 (receive time - send time) and what the target adds over direct;
- streams that ended with ``[DONE]``;
- RSS per open stream: the tree's RSS with every stream open, less before, / streams.

    .venv/bin/python -m benchmarks.token_streams --streams 1000 --events 100 --rate 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from benchmarks.cpu import CLK_TCK, read_all_stats, snapshot
from benchmarks.gateway import CLIENT_KEY, start_gateway
from benchmarks.nginx import start_proxy
from benchmarks.procs import LOOPBACK, Service, start_service, stop_service
from benchmarks.stats import percentile

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_PAD = "x" * 40  # brings an event to ~150 bytes, like a real chunk with a few tokens


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def _event(sent_ns: int) -> bytes:
    return (
        b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
        b'"choices":[{"index":0,"delta":{"content":"%d %b"},"finish_reason":null}]}\n\n' % (sent_ns, _PAD.encode())
    )


_TAIL = (
    b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":100,"total_tokens":112}}\n\n'
    b"data: [DONE]\n\n"
)

# ------------------------------------------------------------------ the paced upstream


class _Upstream(asyncio.Protocol):
    """Answers each request on the connection with one paced stream (keep-alive)."""

    def __init__(self, board: _Board) -> None:
        self.board = board
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if len(self.buf) < end + 4 + length:
            return
        self.buf = self.buf[end + 4 + length:]
        assert self.transport is not None
        self.transport.write(_HEAD)
        self.board.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class _Board:
    """Every open stream, in ``slots`` phase groups; one tick writes one event to one group."""

    def __init__(self, events: int, rate: float, slots: int = 10) -> None:
        self.events = events
        self.interval = 1.0 / rate
        self.slots: list[list[list[object]]] = [[] for _ in range(slots)]
        self.next_slot = 0

    def add(self, transport: asyncio.Transport) -> None:
        self.slots[self.next_slot].append([transport, 0])
        self.next_slot = (self.next_slot + 1) % len(self.slots)

    async def run(self) -> None:
        tick = self.interval / len(self.slots)
        loop = asyncio.get_running_loop()
        at = loop.time()
        i = 0
        while True:
            at += tick
            await asyncio.sleep(max(0.0, at - loop.time()))
            group = self.slots[i % len(self.slots)]
            i += 1
            now = time.time_ns()
            keep = []
            for entry in group:
                transport, sent = cast(asyncio.Transport, entry[0]), cast(int, entry[1])
                if transport.is_closing():
                    continue
                if sent < self.events:
                    transport.write(_chunk(_event(now)))
                    entry[1] = sent + 1
                    keep.append(entry)
                else:
                    transport.write(_chunk(_TAIL) + b"0\r\n\r\n")
            self.slots[(i - 1) % len(self.slots)] = keep


async def _serve(port_file: Path, events: int, rate: float) -> None:
    board = _Board(events, rate)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Upstream(board), LOOPBACK, 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    port_file.write_text(str(port))
    await board.run()


def start_upstream(workdir: Path, events: int, rate: float) -> Service:
    port_file = workdir / "upstream.port"
    service = start_service("paced-upstream", [sys.executable, "-m", "benchmarks.token_streams", "--serve",
                                               str(port_file), "--events", str(events), "--rate", str(rate)], workdir)
    deadline = time.monotonic() + 15
    while not port_file.exists() or not port_file.read_text():
        if service.proc.poll() is not None or time.monotonic() > deadline:
            stop_service(service)
            raise RuntimeError(f"the paced upstream did not start: {service.log_tail()}")
        time.sleep(0.02)
    service.port = int(port_file.read_text())
    return service


# ------------------------------------------------------------------ the client


@dataclass
class Result:
    target: str
    streams: int
    completed: int
    events: int
    latencies_ms: list[float]
    cpu_us_per_event: float
    rss_kb_per_stream: float

    def line(self, direct: Result | None) -> str:
        p50, p99 = percentile(self.latencies_ms, 50), percentile(self.latencies_ms, 99)
        added = ""
        if direct is not None and direct is not self:
            added = (f"  added p50 {p50 - percentile(direct.latencies_ms, 50):+.2f} ms"
                     f" p99 {p99 - percentile(direct.latencies_ms, 99):+.2f} ms")
        return (f"{self.target:10} {self.completed}/{self.streams} complete  {self.events} events  "
                f"CPU {self.cpu_us_per_event:6.1f} us/event  latency p50 {p50:.2f} ms p99 {p99:.2f} ms{added}"
                f"  RSS {self.rss_kb_per_stream:.1f} KB/stream")


async def _stream(port: int, request: bytes, latencies: list[float], opened: asyncio.Event,
                  go: asyncio.Event) -> tuple[bool, int]:
    reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=1 << 20)
    opened.set()
    await go.wait()
    writer.write(request)
    events = 0
    done = False
    marker = b'"content":"'
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            at = line.find(marker)
            if at >= 0:
                try:
                    stamp = int(line[at + len(marker):line.index(b" ", at + len(marker))])
                except ValueError:
                    continue  # an event a relay split across transfer chunks: not timed
                latencies.append((time.time_ns() - stamp) / 1e6)
                events += 1
            elif line.startswith(b"data: [DONE]"):
                done = True
                break
    finally:
        writer.close()
    return done, events


def _rss_kb(root: int) -> int:
    stats = read_all_stats()
    tree = {root}
    changed = True
    while changed:
        changed = False
        for s in stats:
            if s.ppid in tree and s.pid not in tree:
                tree.add(s.pid)
                changed = True
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


async def _run(target: str, port: int, root: int, request: bytes, streams: int, events: int, rate: float) -> Result:
    latencies: list[float] = []
    go = asyncio.Event()
    opened = [asyncio.Event() for _ in range(streams)]
    rss_before = _rss_kb(root)
    tasks = [asyncio.create_task(_stream(port, request, latencies, opened[i], go)) for i in range(streams)]
    for event in opened:
        await event.wait()
    ticks0 = snapshot([root])[root]
    go.set()
    await asyncio.sleep(min(events / rate / 2, 5.0))  # every stream open and flowing
    rss_open = _rss_kb(root)
    outcomes = await asyncio.gather(*tasks)
    ticks1 = snapshot([root])[root]
    total_events = sum(n for _, n in outcomes)
    cpu_us = (ticks1 - ticks0) / CLK_TCK * 1e6 / max(1, total_events)
    return Result(target, streams, sum(1 for ok, _ in outcomes if ok), total_events, latencies, cpu_us,
                  max(0.0, (rss_open - rss_before) / streams))


def _request(path: str, model: str, key: str | None) -> bytes:
    body = b'{"model":"%b","stream":true,"messages":[{"role":"user","content":"hi"}]}' % model.encode()
    auth = b"authorization: Bearer %b\r\n" % key.encode() if key else b""
    return (b"POST %b HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n%bcontent-length: %d\r\n\r\n%b"
            % (path.encode(), auth, len(body), body))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second per stream")
    parser.add_argument("--targets", default="direct,nginx,ferrogate")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # run as the paced upstream
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if args.serve is not None:
        runner = uvloop.run if uvloop is not None else asyncio.run
        runner(_serve(args.serve, args.events, args.rate))
        return 0
    with tempfile.TemporaryDirectory(prefix="fg-tokens-") as tmp:
        work = Path(tmp)
        (work / "upstream").mkdir()
        upstream = start_upstream(work / "upstream", args.events, args.rate)
        services: list[Service] = [upstream]
        results: dict[str, Result] = {}
        try:
            for target in args.targets.split(","):
                if target == "direct":
                    port, root, request = upstream.port, upstream.pid, _request("/v1/chat/completions", "gpt-4o-mini", None)
                elif target == "nginx":
                    proxy = start_proxy(work / "nginx", upstream.port, workers=2)
                    services.append(proxy)
                    port, root, request = proxy.port, proxy.pid, _request("/v1/chat/completions", "gpt-4o-mini", None)
                elif target == "ferrogate":
                    gateway = start_gateway(work / "ferrogate", upstream.port, ai=True, workers=2)
                    services.append(gateway)
                    port, root = gateway.port, gateway.pid
                    request = _request("/v1/chat/completions", "gpt-4o-mini-stream", CLIENT_KEY)
                else:
                    raise SystemExit(f"unknown target {target!r}")
                runner = uvloop.run if uvloop is not None else asyncio.run
                result = runner(_run(target, port, root, request, args.streams, args.events, args.rate))
                results[target] = result
                print(result.line(results.get("direct")), flush=True)
        finally:
            for service in reversed(services):
                stop_service(service)
    print(f"({args.streams} streams x {args.events} events at {args.rate:g}/s; "
          f"{os.cpu_count()} CPUs; client and upstream share the machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
