"""CPU cost of the AI path alone (pipeline + providers + translation), in process.

The real AI endpoints (``serve_ai`` over a runtime compiled from the benchmark's
own gateway config) handle each request; only the edges are fakes: an Exchange
that records the response, and a PoolSet whose upstream answers at once with
the benchmark mock's canned bodies (``benchmarks/payloads.py``, one read, as
nginx's ``return`` sends them). No sockets, no HTTP parsing: the figure is what
the AI path adds on top of the server and pool (``benchmarks/proxy_hotpath.py``
measures those). Process CPU time (clock_gettime, ns resolution) over short batches, best of
many: the batch least disturbed by other load on a busy machine.

    .venv/bin/python -m benchmarks.ai_hotpath                       # every scenario
    .venv/bin/python -m benchmarks.ai_hotpath chat chat_stream -n 20000
    .venv/bin/python -m benchmarks.ai_hotpath chat --profile        # + cProfile top 30
    .venv/bin/python -m benchmarks.ai_hotpath --split               # streams: one event per read
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import uvloop

from benchmarks.gateway import CLIENT_KEY, render_config
from benchmarks.payloads import SCENARIO_PATHS as _PATHS
from benchmarks.payloads import (
    anthropic_message_json,
    anthropic_message_sse,
    openai_chat_json,
    openai_chat_sse,
    request_bodies,
)
from ferrogate.config.load import load_config
from ferrogate.pipeline.endpoints import serve_ai
from ferrogate.pipeline.runtime import compile_ai_runtime


class FakeRequest:
    __slots__ = ("client", "content_length", "headers", "method", "path", "query", "target")

    def __init__(self, path: bytes, body: bytes) -> None:
        self.method = b"POST"
        self.path = self.target = path
        self.query = b""
        # What the openai SDK sends (python, httpx): the key sits mid-list.
        self.headers = [
            (b"host", b"127.0.0.1:8080"),
            (b"accept-encoding", b"gzip, deflate"),
            (b"connection", b"keep-alive"),
            (b"accept", b"application/json"),
            (b"content-type", b"application/json"),
            (b"user-agent", b"OpenAI/Python 1.99.0"),
            (b"x-stainless-lang", b"python"),
            (b"x-stainless-package-version", b"1.99.0"),
            (b"x-stainless-os", b"Linux"),
            (b"x-stainless-arch", b"x64"),
            (b"x-stainless-runtime", b"CPython"),
            (b"x-stainless-runtime-version", b"3.12.3"),
            (b"authorization", b"Bearer " + CLIENT_KEY.encode()),
            (b"x-stainless-async", b"false"),
            (b"x-stainless-retry-count", b"0"),
            (b"x-stainless-read-timeout", b"600"),
            (b"content-length", b"%d" % len(body)),
        ]
        self.client = ("127.0.0.1", 40000)
        self.content_length = len(body)

    def header(self, name: bytes) -> bytes | None:
        for n, v in self.headers:
            if n == name:
                return v
        return None


class FakeExchange:
    """Records what the handler sends; the status is checked after each request."""

    __slots__ = (
        "_body", "disconnected", "log_key_id", "log_request_id", "log_upstream", "received_at", "request", "sent",
        "started", "status",
    )

    def __init__(self, request: FakeRequest, body: bytes) -> None:
        self.request = request
        self._body = body
        self.received_at = 0.0
        self.started = False
        self.disconnected = False
        self.status = 0
        self.sent = 0
        self.log_key_id: str | None = None
        self.log_request_id: bytes | None = None
        self.log_upstream: object = None

    def take_body(self) -> bytes | None:
        return self._body

    async def read_body(self) -> bytes:
        return self._body

    def fail(self, err: Any, flavor: Any = None, extra: Any = ()) -> None:
        self.respond(err.status, [], b"")

    def respond(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.started = True
        self.sent += len(body)

    def start_response(self, status: int, headers: Any, content_length: int | None = None) -> None:
        self.status = status
        self.started = True

    def write(self, data: bytes) -> None:
        self.sent += len(data)

    async def drain(self) -> None:
        return None

    @property
    def writing_paused(self) -> bool:
        return False

    def end(self) -> None:
        return None


class FakeResponse:
    __slots__ = ("_body", "_pieces", "headers", "status")

    def __init__(self, body: bytes, content_type: bytes, pieces: tuple[bytes, ...]) -> None:
        self.status = 200
        self.headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
        self._body = body
        self._pieces = list(pieces)
        self._pieces.reverse()

    async def read(self, max_bytes: int) -> bytes:
        return self._body

    def chunks(self) -> FakeResponse:
        """The upstream reads, iterated like the pool's UpstreamResponse (a class, not a generator)."""
        return self

    def __aiter__(self) -> FakeResponse:
        return self

    async def __anext__(self) -> bytes:
        if not self._pieces:
            raise StopAsyncIteration
        return self._pieces.pop()

    def close(self) -> None:
        return None


def _events(body: bytes) -> tuple[bytes, ...]:
    return tuple(e + b"\n\n" for e in body.split(b"\n\n") if e)


AiHandlerFn = Callable[[Any], Awaitable[None]]


class FakePools:
    """Answers like the benchmark's nginx mock: SSE under /stream, Anthropic on /messages.
    ``split``: one SSE event per upstream read (a real token stream) instead of one read."""

    def __init__(self, split: bool = False) -> None:
        self.answers: dict[tuple[bool, bool], tuple[bytes, bytes, tuple[bytes, ...]]] = {}
        for key, text, ctype in (
            ((False, False), openai_chat_json(), b"application/json"),
            ((True, False), openai_chat_sse(), b"text/event-stream"),
            ((False, True), anthropic_message_json(), b"application/json"),
            ((True, True), anthropic_message_sse(), b"text/event-stream"),
        ):
            body = text.encode()
            self.answers[key] = (body, ctype, _events(body) if split and key[0] else (body,))

    async def request(self, origin: str, method: bytes, target: bytes, headers: Any, body: bytes, timeouts: Any) -> FakeResponse:
        stream = target.startswith(b"/stream")
        return FakeResponse(*self.answers[stream, target.endswith(b"/messages")])

    def pool(self, origin: str) -> FakePool:
        return FakePool(self, origin)


class FakePool:
    """An origin's pool, for adapters that send a head serialized once per model."""

    def __init__(self, pools: FakePools, origin: str) -> None:
        self.pools = pools
        self.origin = origin

    def send(self, head: bytes, body: bytes, timeouts: Any, *, is_head: bool, chunked: bool) -> Awaitable[FakeResponse]:
        target = head.split(b" ", 2)[1]
        return self.pools.request(self.origin, b"POST", target, (), body, timeouts)


def build_handler(split: bool = False) -> AiHandlerFn:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ferrogate.toml"
        path.write_text(render_config(Path(tmp), 9, ai=True))
        config = load_config(path)
    return partial(serve_ai, compile_ai_runtime(config, FakePools(split)))


async def _drive(handler: AiHandlerFn, path: bytes, body: bytes, n: int) -> None:
    request = FakeRequest(path, body)
    for _ in range(n):
        ex = FakeExchange(request, body)
        await handler(ex)  # type: ignore[arg-type]  # a fake with just what the AI path uses
        if ex.status != 200:
            raise RuntimeError(f"status {ex.status}")


def measure(handler: AiHandlerFn, scenario: str, n: int, profile: bool = False, repeat: int = 5) -> float:
    """CPU µs per request for ``scenario``: the best of ``repeat`` runs of ``n`` (after a
    warm-up; the minimum is the figure least disturbed by other load on the machine)."""
    return min(_measure_once(handler, scenario, n, profile and i == 0) for i in range(1 if profile else repeat))


def _measure_once(handler: AiHandlerFn, scenario: str, n: int, profile: bool) -> float:
    body = request_bodies()[scenario]
    path = _PATHS[scenario]
    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    try:
        runner.run(_drive(handler, path, body, 500))
        prof = cProfile.Profile() if profile else None
        t0 = time.process_time()
        if prof is not None:
            prof.enable()
        runner.run(_drive(handler, path, body, n))
        if prof is not None:
            prof.disable()
        t1 = time.process_time()
    finally:
        runner.close()
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    return (t1 - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", default=list(_PATHS))
    ap.add_argument("-n", "--requests", type=int, default=2000)
    ap.add_argument("-r", "--repeat", type=int, default=25)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--split", action="store_true", help="one SSE event per upstream read")
    args = ap.parse_args()
    handler = build_handler(args.split)
    gc.freeze()  # config and compiled runtime are long-lived: keep them out of young-gen scans
    for scenario in args.scenarios:
        us = measure(handler, scenario, args.requests, args.profile, args.repeat)
        print(f"{scenario:28s} {us:8.1f} µs CPU/request")


if __name__ == "__main__":
    main()
