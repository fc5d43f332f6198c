"""In-process gateway (HttpServer + the AI endpoints) in front of the Anthropic, Gemini and
OpenAI mock upstreams, for end-to-end tests with the real openai and anthropic SDKs.
Reuses the AI path's loop-thread/gateway harness (tests/ai/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ai.conftest import Gateway, LoopThread, make_config
from tests.support.mock_anthropic import MockAnthropic
from tests.support.mock_gemini import MockGemini
from tests.support.mock_openai import MockOpenAI

_CAPS = ["chat", "streaming", "tools", "vision", "json_schema"]


class Upstreams:
    def __init__(self, anthropic: MockAnthropic, gemini: MockGemini, openai: MockOpenAI) -> None:
        self.anthropic = anthropic
        self.gemini = gemini
        self.openai = openai


def translate_config(up: Upstreams, **reliability: Any) -> Any:
    return make_config({
        "providers": [
            {"name": "claude", "kind": "anthropic", "base_url": up.anthropic.base_url, "api_key": "sk-ant-upstream",
             "default_max_tokens": 333},
            {"name": "gem", "kind": "gemini", "base_url": up.gemini.base_url, "api_key": "g-upstream-key"},
            {"name": "oai", "kind": "openai-compatible", "base_url": up.openai.base_url, "api_key": "sk-oai"},
        ],
        "models": [
            {"name": "claude-test", "provider": "claude", "provider_model": "claude-up", "capabilities": _CAPS},
            {"name": "gemini-test", "provider": "gem", "provider_model": "gemini-up",
             "capabilities": [*_CAPS, "embeddings"]},
            {"name": "gpt-test", "provider": "oai", "provider_model": "gpt-up", "capabilities": _CAPS},
            {"name": "claude-long", "provider": "claude", "provider_model": "claude-long-up", "capabilities": _CAPS,
             "max_output_tokens": 8192},
            {"name": "claude-then-gemini", "provider": "claude", "provider_model": "claude-up", "capabilities": _CAPS,
             "fallbacks": [{"provider": "gem", "provider_model": "gemini-up", "priority": 1}]},
        ],
        "api_keys": [{"id": "client", "key": "sk-client"}],
        "reliability": {"provider_retry_backoff_ms": 1, "provider_dispatch_max_retries": 0, **reliability},
    })


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.close()


@pytest.fixture(scope="module")
def upstreams(loop_thread: LoopThread) -> Iterator[Upstreams]:
    up = Upstreams(MockAnthropic(), MockGemini(), MockOpenAI())
    loop_thread.run(up.anthropic.start())
    loop_thread.run(up.gemini.start())
    loop_thread.run(up.openai.start())
    try:
        yield up
    finally:
        loop_thread.run(up.anthropic.stop())
        loop_thread.run(up.gemini.stop())
        loop_thread.run(up.openai.stop())


@pytest.fixture(scope="module")
def gateway(loop_thread: LoopThread, upstreams: Upstreams) -> Iterator[Gateway]:
    gw = Gateway(loop_thread, translate_config(upstreams), {})
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "upstreams" in request.fixturenames:
        up: Upstreams = request.getfixturevalue("upstreams")
        up.anthropic.faults.clear()
        up.gemini.faults.clear()
        up.anthropic.script = None
        up.gemini.script = None
