"""Fixtures for the AI path: the gateway (HttpServer + the AI endpoints) and mock
upstreams run in-process on a uvloop loop in a background thread, so blocking
SDK clients (sync openai) and async ones can both call it from the test."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from typing import Any, TypeVar

import msgspec
import pytest
import uvloop

from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.server import HttpServer
from ferrogate.config.model import Config
from ferrogate.ipc.request_records import RecordFields, RequestRecord
from ferrogate.pipeline.endpoints import serve_ai
from ferrogate.pipeline.runtime import AiRuntime, compile_ai_runtime
from tests.support.mock_openai import MockOpenAI

T = TypeVar("T")


class LoopThread:
    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def _observe_decoded(observer: Callable[[RequestRecord], object], fields: RecordFields) -> None:
    """Hand ``observer`` the record as the control process reads it: the worker builds a
    record as its fields' tuple, sent as msgpack and decoded as a RequestRecord."""
    observer(msgspec.msgpack.decode(msgspec.msgpack.encode(fields), type=RequestRecord))


class Gateway:
    def __init__(
        self, lt: LoopThread, config: Config, env: dict[str, str] | None, observer: Any = None, raw: bool = False
    ) -> None:
        self.lt = lt
        self.config = config
        self.pools = PoolSet()
        seen = observer if observer is None or raw else partial(_observe_decoded, observer)
        self.runtime: AiRuntime = compile_ai_runtime(config, self.pools, env=env or {}, observer=seen)
        self.server = HttpServer(partial(serve_ai, self.runtime), config.limits)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        lt.run(self.server.start(sock))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.lt.run(self.server.shutdown(1.0))
        self.lt.loop.call_soon_threadsafe(self.pools.close)


def make_config(doc: dict[str, Any]) -> Config:
    return msgspec.convert(doc, Config)


def openai_config(*upstreams: MockOpenAI, strategy: str = "priority", **model_extra: Any) -> Config:
    """One logical model 'gpt-test' served by each upstream in order (priority 0, 1, 2...)."""
    providers = [
        {"name": f"up{i}", "kind": "openai-compatible", "base_url": u.base_url, "api_key": f"sk-up{i}"}
        for i, u in enumerate(upstreams)
    ]
    fallbacks = [
        {"provider": f"up{i}", "provider_model": f"model-{i}", "priority": i}
        for i in range(1, len(upstreams))
    ]
    model = {
        "name": "gpt-test",
        "provider": "up0",
        "provider_model": "model-0",
        "routing_strategy": strategy,
        "capabilities": ["chat", "streaming", "tools", "embeddings", "responses", "json_schema", "vision"],
        "fallbacks": fallbacks,
        **model_extra,
    }
    return make_config(
        {
            "providers": providers,
            "models": [model],
            "reliability": {"provider_retry_backoff_ms": 1, "provider_connect_timeout_secs": 2.0},
        }
    )


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.close()


def _start_mock(lt: LoopThread) -> MockOpenAI:
    mock = MockOpenAI()
    lt.run(mock.start())
    return mock


@pytest.fixture
def upstream(loop_thread: LoopThread) -> Iterator[MockOpenAI]:
    mock = _start_mock(loop_thread)
    try:
        yield mock
    finally:
        loop_thread.run(mock.stop())


@pytest.fixture
def upstream2(loop_thread: LoopThread) -> Iterator[MockOpenAI]:
    mock = _start_mock(loop_thread)
    try:
        yield mock
    finally:
        loop_thread.run(mock.stop())


@pytest.fixture
def upstream3(loop_thread: LoopThread) -> Iterator[MockOpenAI]:
    mock = _start_mock(loop_thread)
    try:
        yield mock
    finally:
        loop_thread.run(mock.stop())


@pytest.fixture
def gateway_factory(loop_thread: LoopThread) -> Iterator[Any]:
    started: list[Gateway] = []

    def make(config: Config, env: dict[str, str] | None = None, observer: Any = None, raw: bool = False) -> Gateway:
        """``observer`` sees each record as the control process decodes it (``raw``: as the
        worker built it)."""
        gw = Gateway(loop_thread, config, env, observer, raw)
        started.append(gw)
        return gw

    try:
        yield make
    finally:
        for gw in started:
            gw.stop()
