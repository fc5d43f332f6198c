"""A paced SSE upstream: every request gets a stream of small OpenAI chunk events at a fixed rate.

Real LLM answers are streams of small events spread over seconds. This server (its own uvloop
process) answers every POST on a connection (keep-alive) with ``--events`` chunk events of
~150 bytes at ``--rate`` events per second, then a finish chunk, a usage chunk and
``data: [DONE]``; a GET gets a small plain answer (readiness probes). Each event's content
starts with its send time (``time.time_ns()``, taken when that event is written), so a
client can time the path from here to itself. Streams are spread over ``slots`` phase
groups, so ticks do not all land together; a stream whose connection went away is dropped
at its next tick.

    .venv/bin/python -m benchmarks.paced_upstream --port-file F --events 100 --rate 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import cast

from benchmarks.procs import LOOPBACK, Service, start_service, stop_service
from benchmarks.scenario import run_loop

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_PAD = b"x" * 40  # brings an event to ~150 bytes, like a real chunk with a few tokens
_EVENT = (
    b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"content":"%d %b"},"finish_reason":null}]}\n\n'
)
_TAIL = (
    b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":100,"total_tokens":112}}\n\n'
    b"data: [DONE]\n\n"
)
_PROBE_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n"
_LAST = b"%x\r\n%b\r\n0\r\n\r\n" % (len(_TAIL), _TAIL)


def event_chunk(sent_ns: int) -> bytes:
    """One event as one HTTP chunk; its content starts with ``sent_ns`` and a space."""
    payload = _EVENT % (sent_ns, _PAD)
    return b"%x\r\n%b\r\n" % (len(payload), payload)


class _Upstream(asyncio.Protocol):
    """Answers each request on the connection with one paced stream (keep-alive)."""

    def __init__(self, board: _Board) -> None:
        self.board = board
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(
            asyncio.Transport, transport
        )  # uvloop's is no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buf[:end].lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if len(self.buf) < end + 4 + length:
            return
        method = self.buf[:4]
        self.buf = self.buf[end + 4 + length :]
        assert self.transport is not None
        if method == b"GET ":  # a readiness probe (nginx's start): a small answer, no stream
            self.transport.write(_PROBE_ANSWER)
            return
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
        clock = time.time_ns
        while True:
            at += tick
            await asyncio.sleep(max(0.0, at - loop.time()))
            index = i % len(self.slots)
            i += 1
            keep = []
            for entry in self.slots[index]:
                transport, sent = cast(asyncio.Transport, entry[0]), cast(int, entry[1])
                if transport.is_closing():
                    continue
                if sent < self.events:
                    transport.write(event_chunk(clock()))
                    entry[1] = sent + 1
                    keep.append(entry)
                else:
                    transport.write(_LAST)
            self.slots[index] = keep


async def _serve(port_file: Path, events: int, rate: float) -> None:
    board = _Board(events, rate)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Upstream(board), LOOPBACK, 0, backlog=8192)
    port_file.write_text(str(server.sockets[0].getsockname()[1]))
    await board.run()


def start_upstream(
    workdir: Path, events: int, rate: float, name: str = "paced-upstream"
) -> Service:
    """Start the paced upstream in its own process group; bounded wait for its port."""
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / f"{name}.port"
    argv = [
        sys.executable,
        "-m",
        "benchmarks.paced_upstream",
        "--port-file",
        str(port_file),
        "--events",
        str(events),
        "--rate",
        str(rate),
    ]
    service = start_service(name, argv, workdir)
    deadline = time.monotonic() + 15
    while not port_file.exists() or not port_file.read_text():
        if service.proc.poll() is not None or time.monotonic() > deadline:
            stop_service(service)
            raise RuntimeError(f"the paced upstream did not start: {service.log_tail()}")
        time.sleep(0.02)
    service.port = int(port_file.read_text())
    return service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port-file", type=Path, required=True, help="where to write the port")
    parser.add_argument("--events", type=int, default=100, help="events per stream")
    parser.add_argument("--rate", type=float, default=10.0, help="events per second per stream")
    args = parser.parse_args(argv)
    run_loop(_serve(args.port_file, args.events, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
