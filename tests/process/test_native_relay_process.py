"""The C stream relay inside a real worker process (``ferrogate run``): a slow chat stream it
carries arrives whole, and a SIGTERM in its middle lets it finish before the gateway exits."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ferrogate._fastpath.native_relay import native_relay_enabled
from tests.support.gateway import Gateway, alive, wait_until
from tests.support.mock_openai import Fault, MockOpenAI, serving_in_a_thread

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not native_relay_enabled({}), reason="the C relay is not built (make compiled)"),
]

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}], "stream": True}


def _config(upstream: MockOpenAI) -> str:
    return f"""
[reliability]
graceful_shutdown_grace_period_secs = 20
graceful_shutdown_timeout_secs = 25

[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{upstream.base_url}"
api_key = "sk-upstream-process-test"

[[models]]
name = "gpt-test"
provider = "up"
provider_model = "model-0"
capabilities = ["chat", "streaming"]
"""


def _slow_upstream(words: int) -> MockOpenAI:
    mock = MockOpenAI(reply=" ".join(f"w{i}" for i in range(words)), chunks=words)
    mock.always = Fault(event_delay=0.01)
    return mock


def _text(raw: bytes) -> str:
    events = [e for e in raw.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]", events[-3:]
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def _stream(url: str, seen: threading.Event, result: dict[str, Any]) -> None:
    """Read the stream whole; ``seen`` is set once 30 events are in (well past the hand-over)."""
    try:
        with httpx.Client(timeout=30) as client, client.stream("POST", url, json=BODY) as resp:
            raw = b""
            for piece in resp.iter_bytes():
                raw += piece
                if raw.count(b"data: ") >= 30:
                    seen.set()
            result["raw"] = raw
    except httpx.HTTPError as exc:
        result["error"] = repr(exc)
    finally:
        seen.set()


def test_a_worker_relays_a_slow_stream_whole_through_the_c_relay(gateway_factory: Callable[..., Gateway]) -> None:
    with serving_in_a_thread(_slow_upstream(100)) as upstream:
        gw = gateway_factory(_config(upstream), workers=1)
        try:
            with httpx.Client(timeout=30) as client:
                with client.stream("POST", gw.base_url + "/v1/chat/completions", json=BODY) as resp:
                    raw = resp.read()
                plain = client.post(gw.base_url + "/v1/chat/completions", json={**BODY, "stream": False})
        finally:
            gw.stop()  # before the upstream: its pooled connection would hold the mock's close
        assert _text(raw) == upstream.reply
        assert plain.status_code == 200
        # The C relay leaves its upstream connection unused afterwards; the Python relay would
        # have given it back to the pool for the next request.
        assert upstream.connections == 2


def test_sigterm_lets_a_stream_the_c_relay_carries_finish(gateway_factory: Callable[..., Gateway]) -> None:
    with serving_in_a_thread(_slow_upstream(300)) as upstream:  # about 3 s in full
        gw = gateway_factory(_config(upstream), workers=1)
        tree = gw.tree()
        seen, result = threading.Event(), {}
        client = threading.Thread(target=_stream, args=(gw.base_url + "/v1/chat/completions", seen, result))
        client.start()
        try:
            assert seen.wait(15)
            gw.signal(signal.SIGTERM)
            client.join(30)
            exit_code = gw.proc.wait(timeout=30)
        finally:
            gw.stop()  # (a no-op once it exited) before the upstream stops
        assert "error" not in result, result
        assert _text(result["raw"]) == upstream.reply
        assert upstream.stream_outcomes == ["complete"]
        assert exit_code == 0
        wait_until(lambda: not any(alive(p) for p in tree), 10, "all processes to exit")
