"""The exact-match cache against a running gateway (2 workers), an OpenAI wire-format upstream that
counts its requests, and the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.ai.conftest import LoopThread
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mock_openai import Fault, MockOpenAI

pytestmark = pytest.mark.e2e


def _config(upstream: str) -> str:
    return f"""
[cache]
enabled = true
ttl_secs = 60

[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{upstream}"
api_key = "sk-upstream"

[[models]]
name = "cached"
provider = "up"
provider_model = "gpt-up"
cache_enabled = true

[[models]]
name = "uncached"
provider = "up"
provider_model = "gpt-up"

[[api_keys]]
id = "a"
key = "sk-a"
tenant = "team-a"
monthly_token_budget = 1000000

[[api_keys]]
id = "a2"
key = "sk-a2"
tenant = "team-a"

[[api_keys]]
id = "b"
key = "sk-b"
tenant = "team-b"

[[api_keys]]
id = "nocache"
key = "sk-nocache"
tenant = "team-a"
cache_enabled = false

[[api_keys]]
id = "ops"
key = "sk-ops"
scopes = ["admin.read"]

[[gateway_configs]]
id = "fresh"
cache_enabled = false
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockOpenAI]:
    loop = LoopThread()
    mock = MockOpenAI()
    loop.run(mock.start())
    try:
        yield mock
    finally:
        loop.run(mock.stop())
        loop.close()


@pytest.fixture(scope="module")
def gw(upstream: MockOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(_config(upstream.base_url), "toml", workers=2, directory=tmp_path_factory.mktemp("cache"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def _client(gw: Gateway, key: str = "sk-a", **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0, default_headers=headers)


def _ask(gw: Gateway, text: str, key: str = "sk-a", model: str = "cached", **headers: str):  # type: ignore[no-untyped-def]
    return _client(gw, key, **headers).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )


def test_the_second_identical_request_is_served_from_the_cache(gw: Gateway, upstream: MockOpenAI) -> None:
    first = _ask(gw, "one")
    sent = len(upstream.requests)
    second = _ask(gw, "one")
    assert first.headers["x-ferrogate-cache"] == "miss"
    assert second.headers["x-ferrogate-cache"] == "hit"
    assert len(upstream.requests) == sent
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert second.headers["x-ferrogate-provider"] == "up"


def test_a_body_with_bytes_that_are_not_utf8_is_keyed_by_its_bytes_not_a_500(gw: Gateway) -> None:
    body = b'{"model": "cached", "messages": [{"role": "user", "content": "hi"}], "zz": "\xff\xfe"}'
    answer = httpx.post(
        gw.base_url + "/v1/chat/completions", content=body, timeout=10,
        headers={"Authorization": "Bearer sk-a", "Content-Type": "application/json"},
    )
    assert answer.status_code < 500, answer.text
    assert "Traceback" not in gw.log()


def test_a_body_nested_deeper_than_orjson_writes_is_answered_and_cached(gw: Gateway) -> None:
    # orjson reads 300 levels but will not write them back: the key falls back to the bytes.
    body = b'{"model": "cached", "messages": [{"role": "user", "content": "deep"}], "zz": ' + b"[" * 300 + b"]" * 300 + b"}"
    headers = {"Authorization": "Bearer sk-a", "Content-Type": "application/json"}
    first = httpx.post(gw.base_url + "/v1/chat/completions", content=body, timeout=10, headers=headers)
    second = httpx.post(gw.base_url + "/v1/chat/completions", content=body, timeout=10, headers=headers)
    assert first.status_code == 200, first.text
    assert (first.headers["x-ferrogate-cache"], second.headers["x-ferrogate-cache"]) == ("miss", "hit")


def test_every_worker_serves_what_one_stored(gw: Gateway, upstream: MockOpenAI) -> None:
    _ask(gw, "shared")
    sent = len(upstream.requests)
    for _ in range(20):  # a new connection each time: the kernel spreads them over both workers
        answer = httpx.post(
            gw.base_url + "/v1/chat/completions",
            headers={"authorization": "Bearer sk-a", "connection": "close"},
            json={"model": "cached", "messages": [{"role": "user", "content": "shared"}]},
        )
        assert answer.headers["x-ferrogate-cache"] == "hit"
    assert len(upstream.requests) == sent

    def both_workers_served() -> bool:
        status = httpx.get(gw.admin_url + "/admin/v1/status", headers={"authorization": "Bearer sk-ops"}).json()
        rows = [w["ai_requests"] for w in status["workers"] if w["state"] == "ready"]
        return len(rows) == 2 and all(row is not None and row["requests"] > 0 for row in rows)

    wait_until(both_workers_served, 10, "both workers to report the requests they served")


def test_keys_of_another_tenant_never_get_the_answer(gw: Gateway) -> None:
    _ask(gw, "tenants")
    assert _ask(gw, "tenants", key="sk-a2").headers["x-ferrogate-cache"] == "hit"  # same tenant
    assert _ask(gw, "tenants", key="sk-b").headers["x-ferrogate-cache"] == "miss"


def test_cache_control_no_store_bypasses_the_cache(gw: Gateway, upstream: MockOpenAI) -> None:
    _ask(gw, "nostore")
    sent = len(upstream.requests)
    answer = _ask(gw, "nostore", **{"Cache-Control": "no-store"})
    assert answer.headers["x-ferrogate-cache"] == "bypass"
    assert len(upstream.requests) == sent + 1


def test_cache_control_no_cache_asks_the_provider_and_refreshes_the_entry(gw: Gateway, upstream: MockOpenAI) -> None:
    answer = _ask(gw, "refresh", **{"Cache-Control": "no-cache"})
    assert answer.headers["x-ferrogate-cache"] == "bypass"
    assert _ask(gw, "refresh").headers["x-ferrogate-cache"] == "hit"


def test_a_key_with_caching_off_bypasses_it(gw: Gateway) -> None:
    _ask(gw, "keyoff")
    assert _ask(gw, "keyoff", key="sk-nocache").headers["x-ferrogate-cache"] == "bypass"


def test_a_profile_with_caching_off_bypasses_it(gw: Gateway) -> None:
    _ask(gw, "profileoff")
    assert _ask(gw, "profileoff", **{"x-ferrogate-config": "fresh"}).headers["x-ferrogate-cache"] == "bypass"


def test_a_model_without_caching_is_bypassed(gw: Gateway) -> None:
    _ask(gw, "model", model="uncached")
    assert _ask(gw, "model", model="uncached").headers["x-ferrogate-cache"] == "bypass"


def test_an_error_answer_is_not_stored(gw: Gateway, upstream: MockOpenAI) -> None:
    upstream.enqueue(Fault(status=400))
    with pytest.raises(openai.BadRequestError) as failed:
        _ask(gw, "error")
    assert failed.value.response.headers["x-ferrogate-cache"] == "miss"
    assert _ask(gw, "error").headers["x-ferrogate-cache"] == "miss"


def test_a_hit_spends_no_tokens_of_the_budget(gw: Gateway) -> None:
    _ask(gw, "budget")
    left = [int(_ask(gw, "budget").headers["x-ratelimit-remaining-tokens"]) for _ in range(2)]
    assert left[0] == left[1]


def test_a_streamed_answer_is_replayed_as_a_well_formed_stream_with_its_usage(gw: Gateway, upstream: MockOpenAI) -> None:
    def stream() -> tuple[str, str, object]:
        with _client(gw).chat.completions.with_streaming_response.create(
            model="cached",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        ) as response:
            state = response.headers["x-ferrogate-cache"]
            chunks = list(response.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return state, text, chunks[-1].usage

    first = stream()
    sent = len(upstream.requests)
    second = stream()
    assert (first[0], second[0]) == ("miss", "hit")
    assert second[1] == first[1] and second[1]
    assert second[2] is not None and second[2] == first[2]
    assert len(upstream.requests) == sent
