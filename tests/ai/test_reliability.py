"""Retries, fallback, timeouts, mid-stream failures and the circuit breaker."""

from __future__ import annotations

import socket
import time

import httpx
import openai
import pytest

from tests.ai.conftest import make_config, openai_config
from tests.support.mock_openai import Fault

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


def _post(gw, body=CHAT, path="/chat/completions", **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(gw.base_url + path, json=body, timeout=10, **kw)


def _stream_text(gw, body=None) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=body or {**CHAT, "stream": True}, timeout=10) as r:
        return r.status_code, "".join(r.iter_text())


def test_500_then_success_retries_same_candidate(upstream, gateway_factory) -> None:
    upstream.enqueue(Fault(status=500))
    gw = gateway_factory(openai_config(upstream))
    r = _post(gw)
    assert r.status_code == 200
    assert r.headers["x-ferrogate-attempts"] == "2"
    assert len(upstream.requests) == 2


def test_429_with_retry_after_ms_is_honoured_then_succeeds(upstream, gateway_factory) -> None:
    upstream.enqueue(Fault(status=429, error_type="rate_limit_error", retry_after_ms="150"))
    gw = gateway_factory(openai_config(upstream))
    t0 = time.monotonic()
    r = _post(gw)
    assert r.status_code == 200
    assert time.monotonic() - t0 >= 0.15
    assert r.headers["x-ferrogate-attempts"] == "2"


def test_429_beyond_retry_cap_stays_429_with_openai_shape(upstream, gateway_factory) -> None:
    upstream.always = Fault(status=429, error_type="rate_limit_error", error_code="rate_limit_exceeded", retry_after="120")
    gw = gateway_factory(openai_config(upstream))
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**CHAT)
    assert info.value.response.headers["retry-after"] == "120"
    assert len(upstream.requests) == 1  # waiting 120 s is over the cap: no retry


def test_upstream_401_becomes_502_without_leaking_credentials(upstream, gateway_factory) -> None:
    upstream.always = Fault(status=401, error_type="invalid_request_error", error_code="invalid_api_key", message="Incorrect API key provided: sk-up0")
    gw = gateway_factory(openai_config(upstream))
    r = _post(gw)
    assert r.status_code == 502
    assert "sk-up0" not in r.text
    assert r.json()["error"]["type"]


def test_invalid_request_from_upstream_is_returned_not_retried(upstream, upstream2, gateway_factory) -> None:
    upstream.always = Fault(status=400, error_type="invalid_request_error", message="bad temperature")
    gw = gateway_factory(openai_config(upstream, upstream2))
    r = _post(gw)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "bad temperature"
    assert len(upstream2.requests) == 0


def test_connect_refused_falls_back_to_next_candidate(upstream, gateway_factory) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    cfg = make_config(
        {
            "providers": [
                {"name": "dead", "kind": "openai-compatible", "base_url": f"http://127.0.0.1:{port}/v1"},
                {"name": "live", "kind": "openai-compatible", "base_url": upstream.base_url},
            ],
            "models": [
                {"name": "gpt-test", "provider": "dead", "provider_model": "m-dead",
                 "fallbacks": [{"provider": "live", "provider_model": "m-live", "priority": 1}]}
            ],
            "reliability": {"provider_retry_backoff_ms": 1},
        }
    )
    gw = gateway_factory(cfg)
    r = _post(gw)
    assert r.status_code == 200
    assert r.headers["x-ferrogate-provider"] == "live"
    assert upstream.requests[-1].json()["model"] == "m-live"


def test_connect_refused_everywhere_is_502(gateway_factory) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    cfg = make_config(
        {
            "providers": [{"name": "dead", "kind": "openai-compatible", "base_url": f"http://127.0.0.1:{port}/v1"}],
            "models": [{"name": "gpt-test", "provider": "dead", "provider_model": "m"}],
            "reliability": {"provider_retry_backoff_ms": 1},
        }
    )
    r = _post(gateway_factory(cfg))
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_connect_error"


def test_first_byte_timeout_is_504_then_falls_back(upstream, upstream2, gateway_factory) -> None:
    upstream.always = Fault(first_byte_delay=2.0)
    cfg = openai_config(upstream, upstream2)
    cfg = make_config(
        {**_doc(cfg), "reliability": {"provider_first_byte_timeout_secs": 0.2, "provider_dispatch_max_retries": 0}}
    )
    gw = gateway_factory(cfg)
    r = _post(gw)
    assert r.status_code == 200
    assert r.headers["x-ferrogate-provider"] == "up1"


def test_first_byte_timeout_without_fallback_is_504(upstream, gateway_factory) -> None:
    upstream.always = Fault(first_byte_delay=2.0)
    cfg = make_config(
        {**_doc(openai_config(upstream)), "reliability": {"provider_first_byte_timeout_secs": 0.2, "provider_dispatch_max_retries": 0}}
    )
    r = _post(gateway_factory(cfg))
    assert r.status_code == 504


def test_stream_idle_timeout_ends_with_error_event(upstream, gateway_factory) -> None:
    upstream.always = Fault(event_delay=1.0)
    cfg = make_config({**_doc(openai_config(upstream)), "reliability": {"provider_stream_idle_timeout_secs": 0.2}})
    status, text = _stream_text(gateway_factory(cfg))
    assert status == 200
    assert text.rstrip().endswith("}")
    assert '"error"' in text.splitlines()[-2] or '"error"' in text.strip().splitlines()[-1]
    assert "[DONE]" not in text


def test_mid_stream_abort_gives_error_event_and_sdk_raises(upstream, upstream2, gateway_factory) -> None:
    upstream.always = Fault(abort_after_events=3)
    gw = gateway_factory(openai_config(upstream, upstream2))
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    got = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(**CHAT, stream=True):
            got.append(chunk)
    assert got  # bytes had reached the client: no fallback after that
    assert len(upstream2.requests) == 0


def test_stream_failing_before_first_event_falls_back(upstream, upstream2, gateway_factory) -> None:
    upstream.always = Fault(abort_after_events=0)
    gw = gateway_factory(openai_config(upstream, upstream2))
    status, text = _stream_text(gw)
    assert status == 200
    assert text.rstrip().endswith("data: [DONE]")
    assert len(upstream2.requests) == 1


def test_stream_ending_without_done_gets_error_event(upstream, gateway_factory) -> None:
    upstream.always = Fault(stop_after_events=3)
    status, text = _stream_text(gateway_factory(openai_config(upstream)))
    assert status == 200
    assert "[DONE]" not in text
    assert "upstream_stream_truncated" in text


def test_slow_stream_with_slow_reader_delivers_everything(upstream, gateway_factory) -> None:
    upstream.chunks = 40
    upstream.reply = " ".join(f"w{i}" for i in range(40))
    upstream.always = Fault(event_delay=0.01)
    gw = gateway_factory(openai_config(upstream))
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    parts = []
    for chunk in client.chat.completions.create(**CHAT, stream=True):
        time.sleep(0.005)
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
    assert "".join(parts) == upstream.reply


def test_breaker_opens_then_half_open_probe_closes_it(upstream, upstream2, gateway_factory) -> None:
    cfg = make_config(
        {
            **_doc(openai_config(upstream, upstream2)),
            "reliability": {
                "provider_circuit_breaker_failure_threshold": 2,
                "provider_circuit_breaker_cooldown_secs": 0.3,
                "provider_dispatch_max_retries": 0,
            },
        }
    )
    gw = gateway_factory(cfg)
    upstream.always = Fault(status=503)
    for _ in range(2):
        assert _post(gw).headers["x-ferrogate-provider"] == "up1"
    status = {s.provider: s.state for s in gw.runtime.health.status(0.0)}
    assert status["up0"] == "open"
    before = len(upstream.requests)
    assert _post(gw).headers["x-ferrogate-provider"] == "up1"
    assert len(upstream.requests) == before  # open: not even tried
    time.sleep(0.35)
    upstream.always = None
    r = _post(gw)  # the half-open probe goes to up0 and succeeds
    assert r.headers["x-ferrogate-provider"] == "up0"
    status = {s.provider: s.state for s in gw.runtime.health.status(0.0)}
    assert status["up0"] == "closed"


def test_breaker_probe_failure_reopens(upstream, upstream2, gateway_factory) -> None:
    cfg = make_config(
        {
            **_doc(openai_config(upstream, upstream2)),
            "reliability": {
                "provider_circuit_breaker_failure_threshold": 1,
                "provider_circuit_breaker_cooldown_secs": 0.2,
                "provider_dispatch_max_retries": 0,
            },
        }
    )
    gw = gateway_factory(cfg)
    upstream.always = Fault(status=500)
    _post(gw)
    time.sleep(0.25)
    _post(gw)  # probe fails
    status = {s.provider: s for s in gw.runtime.health.status(0.0)}
    assert status["up0"].state == "open"
    assert status["up0"].failures == 2


def _doc(cfg):  # type: ignore[no-untyped-def]
    import msgspec

    return msgspec.to_builtins(cfg)


def test_long_retry_after_prefers_the_next_candidate(upstream, upstream2, gateway_factory) -> None:
    upstream.always = Fault(status=429, error_type="rate_limit_error", retry_after="5")
    gw = gateway_factory(openai_config(upstream, upstream2))
    t0 = time.monotonic()
    r = _post(gw)
    assert r.status_code == 200
    assert r.headers["x-ferrogate-provider"] == "up1"
    assert time.monotonic() - t0 < 2.0
    assert len(upstream.requests) == 1


def test_responses_stream_failure_mid_way_raises_in_the_sdk(upstream, gateway_factory) -> None:
    upstream.always = Fault(abort_after_events=4)
    gw = gateway_factory(openai_config(upstream))
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    seen = []
    with pytest.raises(openai.APIError):
        for event in client.responses.create(model="gpt-test", input="hi", stream=True):
            seen.append(event.type)
    assert seen[0] == "response.created"
    assert "response.completed" not in seen


def test_responses_stream_cut_short_ends_with_error_event(upstream, gateway_factory) -> None:
    upstream.always = Fault(stop_after_events=5)
    gw = gateway_factory(openai_config(upstream))
    with httpx.stream("POST", gw.base_url + "/responses", json={"model": "gpt-test", "input": "x", "stream": True}) as r:
        text = r.read()
    last = text.strip().split(b"\n\n")[-1]
    assert last.startswith(b"event: error\ndata: ")
    assert b"upstream_stream_truncated" in last
