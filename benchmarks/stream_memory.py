"""Python memory held per open AI stream, by allocation site, in process.

The real server, AI handler and pool (as in ``benchmarks/ai_server_hotpath.py``) with fake
transports: each of N client connections sends one streamed chat completion; its upstream
answers the head and the first few chunk events, then stays silent, so every stream stays
open mid-answer. tracemalloc snapshots taken with ``--base`` streams open and with N open give
the bytes each further open stream holds, by the line that allocated them. Kernel socket
buffers and uvloop's transports are not in these figures (the fakes stand in for them); the
end-to-end RSS per stream is ``benchmarks/token_streams.py``'s.

    .venv/bin/python -m benchmarks.stream_memory --streams 2000 --top 25
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import uvloop

from benchmarks.ai_server_hotpath import _request
from benchmarks.gateway import render_config
from benchmarks.proxy_hotpath import _UpstreamTransport, _warm_pool
from ferrogate._fastpath.http1 import HttpProtocol
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.state import ServerState
from ferrogate.app import WorkerState, build_app
from ferrogate.config.load import load_config
from ferrogate.observability.record_counter import RecordCounter
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.observability.request_tally import RequestTally
from ferrogate.worker import tune_collector

_EVENT = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "m",
          "choices": [{"index": 0, "delta": {"content": "token "}, "finish_reason": None}]}


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _open_answer(events: int) -> bytes:
    head = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
    line = b"data: " + json.dumps(_EVENT, separators=(",", ":")).encode() + b"\n\n"
    return head + b"".join(_chunk(line) for _ in range(events))


class _SilentUpstream(_UpstreamTransport):
    """Answers the head and a few events, then nothing more: the stream stays open."""

    __slots__ = ()
    answer = b""

    def write(self, data: bytes) -> None:
        self.loop.call_soon(self.protocol.data_received, self.answer)

    def close(self) -> None:  # the end of the run
        pass

    abort = close


class _Sink:
    """A client connection that drops what it is sent (nothing accumulates here)."""

    __slots__ = ("bytes", "protocol")

    def __init__(self) -> None:
        self.bytes = 0
        self.protocol: HttpProtocol | None = None

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.bytes += len(part)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None: ...

    abort = close

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


async def _open(server: ServerState, request: bytes, count: int, into: list[_Sink]) -> None:
    for _ in range(count):
        sink = _Sink()
        protocol = HttpProtocol(server)
        sink.protocol = protocol
        protocol.connection_made(sink)  # type: ignore[arg-type]
        protocol.data_received(request)
        into.append(sink)
    for _ in range(20):  # let every stream reach its upstream and relay the first events
        await asyncio.sleep(0)


async def run(streams: int, base: int, events: int, top: int, records: bool) -> None:
    loop = asyncio.get_running_loop()
    _SilentUpstream.answer = _open_answer(events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(render_config(Path(tmp), 9, ai=True, governed=False))
        config = load_config(path)
        pools = PoolSet()
        observer = RecordQueue(RequestTally(), RecordCounter.for_config(config), max_queued=10) if records else None
        state = WorkerState(slot=0, generation=1, revision="bench", config_path=path,
                            admin_address=None, ipc_path="", pools=pools, observer=observer)
        app = build_app(config, state)
    for pool in pools.pools():
        _warm_pool(pool, loop, streams + 10, _SilentUpstream)  # type: ignore[arg-type]
    server = ServerState(app, config.limits, loop)
    request = _request("chat_stream")
    sinks: list[_Sink] = []
    await _open(server, request, base, sinks)
    gc.collect()
    tracemalloc.start(12)
    await _open(server, request, 0, sinks)
    gc.collect()
    before = tracemalloc.take_snapshot()
    await _open(server, request, streams - base, sinks)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    if not all(s.bytes > 0 for s in sinks):
        raise AssertionError("a stream got no answer")
    n = streams - base
    stats = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"{total / n:,.0f} B of Python allocations per open stream ({n} streams; {events} events relayed each)")
    for stat in stats[:top]:
        if stat.size_diff <= 0:
            continue
        frames = [f for f in stat.traceback if "/ferrogate/" in f.filename] or list(stat.traceback)
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames[-1:-4:-1])
        print(f"{stat.size_diff / n:8,.0f} B {stat.count_diff / n:6.1f} blocks  {where}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--base", type=int, default=200, help="streams open before the first snapshot")
    ap.add_argument("--events", type=int, default=3, help="events relayed before the upstream goes silent")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-records", action="store_true")
    args = ap.parse_args()
    tune_collector()
    uvloop.run(run(args.streams, args.base, args.events, args.top, not args.no_records))


if __name__ == "__main__":
    main()
