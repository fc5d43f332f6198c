"""CPU cost of one AI request through the real server, AI handler and pool, in process.

Like ``benchmarks/proxy_hotpath.py`` (``HttpProtocol`` → ``build_app`` → AI handler →
pool → ``UpstreamConnection``), with the benchmark gateway config's AI routes; only the
two transports are fakes. The client POSTs the load generator's body; the upstream
answers like the nginx mock (``benchmarks/payloads.py``, one read, content-length
framed; SSE under ``/stream/``). ``writes`` counts client transport writes per request
(each is a send() syscall on a real socket).

    .venv/bin/python -m benchmarks.ai_server_hotpath chat chat_stream
    .venv/bin/python -m benchmarks.ai_server_hotpath chat_stream --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import time
from functools import partial
from pathlib import Path

import uvloop

from benchmarks.gateway import CLIENT_KEY, GOVERNED_KEY, render_config
from benchmarks.opcodes import print_opcodes
from benchmarks.payloads import SCENARIO_PATHS as _PATHS
from benchmarks.payloads import (
    anthropic_message_json,
    anthropic_message_sse,
    openai_chat_json,
    openai_chat_sse,
    openai_responses_sse,
    request_bodies,
)
from benchmarks.proxy_hotpath import _ClientTransport as _BaseClient
from benchmarks.proxy_hotpath import _UpstreamTransport as _BaseUpstream
from benchmarks.proxy_hotpath import _warm_pool
from ferrogate._fastpath.http1 import HttpProtocol
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.state import ServerState
from ferrogate.app import WorkerState, build_app
from ferrogate.config.load import load_config
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.worker import tune_collector


def _nginx(body: str, ctype: bytes, sse: bool) -> bytes:
    raw = body.encode()
    extra = b"Cache-Control: no-cache\r\n" if sse else b""
    return (
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 05:00:00 GMT\r\n"
        b"Content-Type: %b\r\nContent-Length: %d\r\nConnection: keep-alive\r\n%b\r\n%b"
        % (ctype, len(raw), extra, raw)
    )


_ANSWERS = {
    (False, False): _nginx(openai_chat_json(), b"application/json", False),
    (True, False): _nginx(openai_chat_sse(), b"text/event-stream", True),
    (False, True): _nginx(anthropic_message_json(), b"application/json", False),
    (True, True): _nginx(anthropic_message_sse(), b"text/event-stream", True),
}
_RESPONSES_ANSWER = _nginx(openai_responses_sse(), b"text/event-stream", True)


class _Upstream(_BaseUpstream):
    __slots__ = ()

    def write(self, data: bytes) -> None:
        line = data[: data.find(b" HTTP/1.1")]
        if line.endswith(b"/responses"):
            answer = _RESPONSES_ANSWER
        else:
            answer = _ANSWERS[line.find(b" /stream/") != -1, line.endswith(b"/messages")]
        self.loop.call_soon(self.protocol.data_received, answer)


class _Client(_BaseClient):
    __slots__ = ("request", "vary", "writes")

    def __init__(self, loop: asyncio.AbstractEventLoop, requests: int, done: asyncio.Future[None], request: bytes) -> None:
        super().__init__(loop, requests, done)
        self.request = request
        self.writes = 0
        # Like benchmarks/lua/post_varying_body.lua: a body unique to each request (a cache miss).
        at = request.find(b"0000000000")
        self.vary = (request[:at], request[at + 10 :]) if at >= 0 else None

    def next_request(self) -> bytes:
        if self.vary is None:
            return self.request
        return b"%b%010d%b" % (self.vary[0], id(self) % 100 * 10**8 + self.left, self.vary[1])

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.writes == 1 and not data.startswith(b"HTTP/1.1 200 "):
            raise AssertionError(f"unexpected response: {data[:300]!r}")
        # find, not ``in``: ``bytes in bytes`` formats a dropped TypeError on 3.11, which would
        # count the client's trap among the gateway's instructions.
        if (data.startswith(b"HTTP/1.1 ") and data.find(b"transfer-encoding: chunked") >= 0
                and not data.endswith(b"\r\n0\r\n\r\n")):
            return
        if data.startswith(b"HTTP/1.1 ") or data.endswith(b"0\r\n\r\n"):
            self.left -= 1
            if self.left > 0:
                assert self.protocol is not None
                self.loop.call_soon(self.protocol.data_received, self.next_request())
            elif not self.done.done():
                self.done.set_result(None)


# The fields the OpenAI Python SDK (3.60) sends with a chat request besides Host,
# Authorization, Content-Type and Content-Length, in its order (captured from the SDK
# against a socket): wrk sends only those four.
SDK_FIELDS = (
    b"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\naccept: application/json\r\n"
    b"user-agent: OpenAI/Python 3.60.0\r\nx-stainless-lang: python\r\n"
    b"x-stainless-package-version: 3.60.0\r\nx-stainless-os: Linux\r\nx-stainless-arch: x64\r\n"
    b"x-stainless-runtime: CPython\r\nx-stainless-runtime-version: 3.11.7\r\n"
    b"x-stainless-async: false\r\nx-stainless-retry-count: 0\r\nx-stainless-read-timeout: 600\r\n"
)


def _request(scenario: str, sdk_fields: bool = False) -> bytes:
    body = request_bodies()[scenario]
    key = CLIENT_KEY
    if scenario == "chat_governed":
        # The governed key; its body's 0000000000 is replaced per request (a cache miss and
        # a store each time, as under wrk).
        key = GOVERNED_KEY
    return (
        b"POST %b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n%bAuthorization: Bearer %b\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
        % (_PATHS[scenario], SDK_FIELDS if sdk_fields else b"", key.encode(), len(body), body)
    )


async def run(scenario: str, requests: int, conns: int, records: bool = True,
              sdk_fields: bool = False) -> tuple[float, float]:
    """CPU seconds for ``requests`` requests, and client writes per request. ``records``: each
    request's record goes to a worker's record queue and is packed into batches, as the
    worker's flusher does (sending them to the control process is measured end to end)."""
    loop = asyncio.get_running_loop()
    # A ``_traced`` scenario: OTLP export on, so the worker makes trace ids, decides sampling
    # and sends traceparent upstream (nothing is exported from a worker).
    traced = scenario.endswith("_traced")
    scenario = scenario.removesuffix("_traced")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        # Governance configured only for the scenario that measures it.
        path.write_text(render_config(Path(tmp), 9, ai=True, governed=scenario == "chat_governed",
                                      otlp_endpoint="http://127.0.0.1:9" if traced else None,
                                      responses=scenario == "responses_stream"))
        config = load_config(path)
        pools = PoolSet()
        # The worker's queue for this config: with OTLP on, the GenAI sums are in each batch's packing.
        observer = RecordQueue.for_config(config, os.environ, max_queued=requests + 1) if records else None
        state = WorkerState(slot=0, generation=1, revision="bench", config_path=path,
                            admin_address=None, ipc_path="", pools=pools, observer=observer)
        app = build_app(config, state)
    for pool in pools.pools():
        _warm_pool(pool, loop, conns, _Upstream)
    server = ServerState(app, config.limits, loop)
    request = _request(scenario, sdk_fields)
    per_conn = requests // conns
    waits: list[asyncio.Future[None]] = []
    clients: list[_Client] = []
    for _ in range(conns):
        done: asyncio.Future[None] = loop.create_future()
        transport = _Client(loop, per_conn, done, request)
        protocol = HttpProtocol(server)
        transport.protocol = protocol
        protocol.connection_made(transport)  # type: ignore[arg-type]
        waits.append(done)
        clients.append(transport)
    start = time.process_time()
    for client in clients:
        assert client.protocol is not None
        client.protocol.data_received(client.next_request())
    await asyncio.gather(*waits)
    if observer is not None:
        while len(observer):
            observer.pack(observer.take(), 0)
    spent = time.process_time() - start
    if any(p.connects for p in pools.pools()):
        raise AssertionError("the pool opened a real connection")
    return spent, sum(c.writes for c in clients) / (per_conn * conns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", default=["chat", "chat_stream"])
    ap.add_argument("-n", "--requests", type=int, default=4000)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--opcodes", action="store_true", help="count bytecodes per request instead")
    ap.add_argument("--no-records", action="store_true", help="no record queue (the cost of records: run with and without)")
    ap.add_argument("--sdk-fields", action="store_true",
                    help="send the 17 header fields the OpenAI Python SDK sends (wrk sends 4)")
    args = ap.parse_args()
    tune_collector()  # as a worker does once booted
    if args.opcodes:
        for scenario in args.scenarios:
            print_opcodes(scenario, partial(run, scenario, conns=args.conns, sdk_fields=args.sdk_fields), 32 * 40, warmup=64)
        return
    # Rounds go round the scenarios in turn (A B C A B C ...), so a machine that slows down
    # for a while slows every scenario alike; each scenario's best round is reported.
    best = dict.fromkeys(args.scenarios, float("inf"))
    writes = dict.fromkeys(args.scenarios, 0.0)
    for _ in range(args.rounds):
        for scenario in args.scenarios:
            spent, writes[scenario] = uvloop.run(run(scenario, args.requests, args.conns, not args.no_records,
                                                     args.sdk_fields))
            best[scenario] = min(best[scenario], spent)
    n = args.requests // args.conns * args.conns
    for scenario in args.scenarios:
        print(f"{scenario:26s} {best[scenario] / n * 1e6:8.1f} µs CPU/request  {writes[scenario]:.1f} client writes/request")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            uvloop.run(run(scenario, args.requests, args.conns, sdk_fields=args.sdk_fields))
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(35)

if __name__ == "__main__":
    main()
