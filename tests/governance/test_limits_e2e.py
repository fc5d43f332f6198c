"""Limits and budgets against a running gateway, through the openai SDK and httpx; each
gateway once with the limiter's C ops and once in pure Python (``conftest.gateway_path_env``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = f"""
[[providers]]
name = "mock"
kind = "mock"
mock = {{ prompt_tokens = 10, completion_tokens = 16 }}

[[providers]]
name = "down"
kind = "openai-compatible"
base_url = "http://127.0.0.1:{_closed_port()}/v1"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[models]]
name = "priced"
provider = "mock"
provider_model = "p"
input_price_per_1m = "1.5"
output_price_per_1m = "2"

[[models]]
name = "broken"
provider = "down"
provider_model = "b"

[[api_keys]]
id = "rpm3"
key = "sk-rpm3"
request_limit_per_minute = 3

[[api_keys]]
id = "daily100"
key = "sk-daily100"
daily_token_budget = 100

[[api_keys]]
id = "tokens"
key = "sk-tokens"
token_budget = 100000
token_budget_period_secs = 86400

[[api_keys]]
id = "cost"
key = "sk-cost"
daily_cost_budget_usd = "0.0001"

[[api_keys]]
id = "t1"
key = "sk-t1"
tenant = "team"

[[api_keys]]
id = "t2"
key = "sk-t2"
tenant = "team"

[[api_keys]]
id = "free"
key = "sk-free"

[[tenants]]
id = "team"
request_limit_per_minute = 2
"""

HI = [{"role": "user", "content": "hi"}]
USED_PER_REQUEST = 10 + 16  # the mock's reported usage


def _client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, gateway_path_env: dict[str, str]) -> Iterator[Gateway]:
    gateway = start_gateway(
        CONFIG, "toml", workers=2, env=gateway_path_env, directory=tmp_path_factory.mktemp("limits")
    )
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def test_a_request_limit_refuses_the_request_over_it_with_openai_headers(gw: Gateway) -> None:
    remaining = []
    for _ in range(3):
        raw = _client(gw, "sk-rpm3").chat.completions.with_raw_response.create(model="m", messages=HI)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as refused:
        _client(gw, "sk-rpm3").chat.completions.create(model="m", messages=HI)
    assert refused.value.code == "rate_limit_exceeded"
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 60
    assert refused.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_keys_without_limits_get_no_limit_headers(gw: Gateway) -> None:
    raw = _client(gw, "sk-free").chat.completions.with_raw_response.create(model="m", messages=HI)
    assert "x-ratelimit-limit-requests" not in raw.headers


def test_a_token_budget_refuses_once_the_next_reservation_would_not_fit(gw: Gateway) -> None:
    admitted = 0
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(10):
            _client(gw, "sk-daily100").chat.completions.create(model="m", messages=HI, max_tokens=20)
            admitted += 1
    assert admitted * USED_PER_REQUEST <= 100
    assert admitted >= 2
    assert refused.value.code == "budget_exceeded"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert f"daily_token_budget (100 tokens); it resets at {tomorrow}T00:00:00Z" in refused.value.message


def test_the_token_headers_show_the_budget_left_after_the_reservation(gw: Gateway) -> None:
    first = _client(gw, "sk-tokens").chat.completions.with_raw_response.create(model="m", messages=HI, max_tokens=50)
    second = _client(gw, "sk-tokens").chat.completions.with_raw_response.create(model="m", messages=HI, max_tokens=50)
    left_first = int(first.headers["x-ratelimit-remaining-tokens"])
    left_second = int(second.headers["x-ratelimit-remaining-tokens"])
    # Between the two, the first request's reservation became its usage.
    assert left_first - left_second == USED_PER_REQUEST


def test_a_stream_settles_the_same_tokens_as_a_plain_request(gw: Gateway) -> None:
    client = _client(gw, "sk-tokens")
    before = int(client.chat.completions.with_raw_response.create(model="m", messages=HI, max_tokens=50).headers["x-ratelimit-remaining-tokens"])
    stream = client.chat.completions.create(
        model="m", messages=HI, max_tokens=50, stream=True, stream_options={"include_usage": True}
    )
    for _ in stream:
        pass
    after = int(client.chat.completions.with_raw_response.create(model="m", messages=HI, max_tokens=50).headers["x-ratelimit-remaining-tokens"])
    assert before - after == 2 * USED_PER_REQUEST


def test_a_request_that_fails_upstream_spends_nothing(gw: Gateway) -> None:
    client = _client(gw, "sk-tokens")
    before = int(client.chat.completions.with_raw_response.create(model="m", messages=HI, max_tokens=50).headers["x-ratelimit-remaining-tokens"])
    for _ in range(3):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="broken", messages=HI, max_tokens=50)
    after = int(client.chat.completions.with_raw_response.create(model="m", messages=HI, max_tokens=50).headers["x-ratelimit-remaining-tokens"])
    assert before - after == USED_PER_REQUEST


def test_a_cost_budget_refuses_in_usd_from_the_model_prices(gw: Gateway) -> None:
    # Each answer costs 10 * 1.5e-6 + 16 * 2e-6 = 0.000047 USD; the reservation is larger.
    admitted = 0
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(10):
            _client(gw, "sk-cost").chat.completions.create(model="priced", messages=HI, max_tokens=16)
            admitted += 1
    assert 1 <= admitted <= 2
    assert refused.value.code == "budget_exceeded"
    assert "daily_cost_budget_usd (0.0001 USD)" in refused.value.message


def test_the_keys_of_a_tenant_share_its_request_limit(gw: Gateway) -> None:
    _client(gw, "sk-t1").chat.completions.create(model="m", messages=HI)
    _client(gw, "sk-t2").chat.completions.create(model="m", messages=HI)
    with pytest.raises(openai.RateLimitError) as refused:
        _client(gw, "sk-t1").chat.completions.create(model="m", messages=HI)
    assert "tenant 'team'" in refused.value.message


def test_an_anthropic_client_gets_a_rate_limit_error_in_its_own_shape(gw: Gateway) -> None:
    # The rpm3 key is spent by the first test of this module (same minute window).
    answer = httpx.post(
        gw.base_url + "/v1/messages",
        headers={"x-api-key": "sk-rpm3", "anthropic-version": "2023-06-01"},
        json={"model": "m", "max_tokens": 10, "messages": HI},
    )
    assert answer.status_code == 429
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["type"] == "rate_limit_error"


# ---------------------------------------------------------------- exact across workers

CONCURRENT = """
[[providers]]
name = "mock"
kind = "mock"
mock = { prompt_tokens = 10, completion_tokens = 16, latency_ms = 20 }

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[api_keys]]
id = "rpm60"
key = "sk-rpm60"
request_limit_per_minute = 60

[[api_keys]]
id = "budget"
key = "sk-budget"
daily_token_budget = 2000
"""


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory, gateway_path_env: dict[str, str]) -> Iterator[Gateway]:
    gateway = start_gateway(
        CONCURRENT, "toml", workers=4, env=gateway_path_env, directory=tmp_path_factory.mktemp("limits4")
    )
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


async def _burst(base_url: str, key: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        body = {"model": "m", "messages": HI, "max_tokens": 20}
        headers = {"authorization": f"Bearer {key}"}
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=body, headers=headers) for _ in range(n)))


def test_four_workers_admit_exactly_sixty_of_two_hundred_concurrent_requests(four: Gateway) -> None:
    answers = asyncio.run(_burst(four.base_url, "sk-rpm60", 200))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 60
    assert statuses.count(429) == 140


def test_four_workers_never_settle_more_than_the_token_budget(four: Gateway) -> None:
    answers = asyncio.run(_burst(four.base_url, "sk-budget", 200))
    ok = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert len(ok) + len(refused) == 200
    assert len(ok) * USED_PER_REQUEST <= 2000
    assert refused and all(a.json()["error"]["code"] == "budget_exceeded" for a in refused)


# ---------------------------------------------------------------- a worker dies mid-request

CRASH = """
[[providers]]
name = "slow"
kind = "mock"
mock = { prompt_tokens = 10, completion_tokens = 16, latency_ms = 30000 }

[[providers]]
name = "fast"
kind = "mock"
mock = { prompt_tokens = 10, completion_tokens = 16 }

[[models]]
name = "slow"
provider = "slow"
provider_model = "s"

[[models]]
name = "fast"
provider = "fast"
provider_model = "f"

[[api_keys]]
id = "k"
key = "sk-k"
monthly_token_budget = 1000000
"""


def _left(gw: Gateway) -> int:
    raw = _client(gw, "sk-k").chat.completions.with_raw_response.create(model="fast", messages=HI, max_tokens=1)
    return int(raw.headers["x-ratelimit-remaining-tokens"])


def test_a_worker_killed_mid_request_does_not_keep_its_reservation(tmp_path, gateway_path_env: dict[str, str]) -> None:
    gw = start_gateway(CRASH, "toml", workers=1, env=gateway_path_env, directory=tmp_path)
    try:
        gw.wait_ready(DEFAULT_READY_SECS)
        victim = wait_until(lambda: gw.worker_pids().get(0), 10, "the worker")
        baseline = _left(gw)
        def slow_request() -> None:
            with contextlib.suppress(httpx.HTTPError):  # its worker is killed under it
                httpx.post(
                    gw.base_url + "/v1/chat/completions",
                    headers={"authorization": "Bearer sk-k"},
                    json={"model": "slow", "messages": HI, "max_tokens": 50000},
                    timeout=60,
                )

        slow = threading.Thread(target=slow_request, daemon=True)
        slow.start()
        # Its 50,000-token reservation shows in the next answers' remaining budget.
        wait_until(lambda: _left(gw) < baseline - 50000, 10, "the slow request's reservation")
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: gw.worker_pids().get(0) not in (None, victim), 10, "a new worker")
        left = _left(gw)
        assert left > baseline - 50000  # released by the new worker
        slow.join(timeout=30)
    finally:
        gw.stop()
