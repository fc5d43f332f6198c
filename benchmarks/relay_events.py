"""CPU per relayed SSE event of a long AI stream, in process.

The real server, AI handler and pool with fake transports (``benchmarks/stream_memory.py``):
``--streams`` client connections each ask for a streamed chat completion; each upstream
answers the head, then one chunk event per read, every read on its own loop iteration (as
events spread over seconds arrive), then the usage chunk and ``[DONE]``. The figure is the
process CPU per relayed event: the Python cost of the relay without the kernel's (the
syscalls are the fakes' no-ops), comparable before and after a change.

    .venv/bin/python -m benchmarks.relay_events --streams 50 --events 400
    .venv/bin/python -m benchmarks.relay_events --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

import uvloop

from benchmarks.ai_server_hotpath import _request
from benchmarks.gateway import render_config
from benchmarks.proxy_hotpath import _UpstreamTransport, _warm_pool
from benchmarks.stream_memory import _EVENT, _chunk, _Sink
from ferrogate._fastpath.http1 import HttpProtocol
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.state import ServerState
from ferrogate.app import WorkerState, build_app
from ferrogate.config.load import load_config
from ferrogate.observability.record_counter import RecordCounter
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.observability.request_tally import RequestTally
from ferrogate.worker import tune_collector

_HEAD = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/event-stream\r\n"
         b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
_LINE = _chunk(b"data: " + json.dumps(_EVENT, separators=(",", ":")).encode() + b"\n\n")
_USAGE = {**_EVENT, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 400, "total_tokens": 409}}
_TAIL = (_chunk(b"data: " + json.dumps(_USAGE, separators=(",", ":")).encode() + b"\n\ndata: [DONE]\n\n")
         + b"0\r\n\r\n")


class _PacedUpstream(_UpstreamTransport):
    """Sends the head, then one event per loop iteration, then the end."""

    __slots__ = ()
    events = 0
    finished: list[int] = []

    def write(self, data: bytes) -> None:
        self.loop.call_soon(self._send, 0)

    def _send(self, sent: int) -> None:
        if sent == 0:
            self.protocol.data_received(_HEAD + _LINE)
        elif sent < self.events:
            self.protocol.data_received(_LINE)
        else:
            self.protocol.data_received(_TAIL)
            self.finished.append(1)
            return
        self.loop.call_soon(self._send, sent + 1)


async def run(streams: int, events: int) -> float:
    """CPU seconds for ``streams`` streams of ``events`` events each."""
    loop = asyncio.get_running_loop()
    _PacedUpstream.events = events
    _PacedUpstream.finished = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(render_config(Path(tmp), 9, ai=True, governed=False))
        config = load_config(path)
        pools = PoolSet()
        observer = RecordQueue(RequestTally(), RecordCounter.for_config(config), max_queued=streams + 1)
        state = WorkerState(slot=0, generation=1, revision="bench", config_path=path,
                            admin_address=None, ipc_path="", pools=pools, observer=observer)
        app = build_app(config, state)
    for pool in pools.pools():
        _warm_pool(pool, loop, streams, _PacedUpstream)  # type: ignore[arg-type]
    server = ServerState(app, config.limits, loop)
    request = _request("chat_stream")
    sinks = []
    start = time.process_time()
    for _ in range(streams):
        sink = _Sink()
        protocol = HttpProtocol(server)
        sink.protocol = protocol
        protocol.connection_made(sink)  # type: ignore[arg-type]
        protocol.data_received(request)
        sinks.append(sink)
    while len(_PacedUpstream.finished) < streams or server.inflight:
        await asyncio.sleep(0)
    spent = time.process_time() - start
    if any(s.bytes < events * len(_LINE) // 2 for s in sinks):
        raise AssertionError("a stream was not relayed whole")
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    tune_collector()
    best = min(uvloop.run(run(args.streams, args.events)) for _ in range(args.rounds))
    print(f"{best / (args.streams * args.events) * 1e6:.2f} µs CPU per relayed event "
          f"({args.streams} streams x {args.events} events, best of {args.rounds})")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        uvloop.run(run(args.streams, args.events))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
