"""Profile overrides against a running gateway: each changes what happens to a request.

Three mock OpenAI upstreams (up0, up1, up2) run in this process; the gateway is a real
``ferrogate run`` with one worker. Each test sets the upstreams' faults itself and
compares the answer with the profile against the answer without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.ai.conftest import LoopThread
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway
from tests.support.mock_openai import Fault, MockOpenAI

# Model "m": up0 (priority 0, dearest), up1 (priority 1, cheapest), up2 (priority 2).
# Model "guarded": up0, then up2, which a policy refuses. Model "solo": up0 only.
CONFIG = """
[reliability]
provider_dispatch_max_retries = 0
provider_retry_backoff_ms = 1
provider_first_byte_timeout_secs = 10
provider_circuit_breaker_failure_threshold = 1000

[[providers]]
name = "up0"
kind = "openai-compatible"
base_url = "{up0}"

[[providers]]
name = "up1"
kind = "openai-compatible"
base_url = "{up1}"

[[providers]]
name = "up2"
kind = "openai-compatible"
base_url = "{up2}"

[[models]]
name = "m"
provider = "up0"
provider_model = "model-0"
input_price_per_1m = 10
output_price_per_1m = 30
fallbacks = [
  {{ provider = "up1", provider_model = "model-1", priority = 1, input_price_per_1m = 0.1, output_price_per_1m = 0.3 }},
  {{ provider = "up2", provider_model = "model-2", priority = 2, input_price_per_1m = 1, output_price_per_1m = 3 }},
]

[[models]]
name = "guarded"
provider = "up0"
provider_model = "model-0"
fallbacks = [{{ provider = "up2", provider_model = "model-2", priority = 1 }}]

[[models]]
name = "solo"
provider = "up0"
provider_model = "model-0"

[[policies]]
name = "guarded-stays-off-up2"
models = ["guarded"]
providers = ["up2"]

[[gateway_configs]]
id = "cheapest"
routing_strategy = "lowest_cost"

[[gateway_configs]]
id = "primary-only"
fallbacks_enabled = false

[[gateway_configs]]
id = "up2-only"
allowed_providers = ["up2"]

[[gateway_configs]]
id = "persistent"
max_retries = 3

[[gateway_configs]]
id = "impatient"
first_byte_timeout_secs = 0.2

[[gateway_configs]]
id = "short-budget"
dispatch_timeout_secs = 0.3
"""

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
UNCHECKED = "unused"  # the config has no [[api_keys]]: the gateway checks none


@pytest.fixture(scope="module")
def upstreams() -> Iterator[list[MockOpenAI]]:
    lt = LoopThread()
    mocks = [MockOpenAI() for _ in range(3)]
    try:
        for mock in mocks:
            lt.run(mock.start())
        yield mocks
    finally:
        for mock in mocks:
            lt.run(mock.stop())
        lt.run(_finish_pending_handlers())  # a slow answer the gateway gave up on is still waiting
        lt.close()


async def _finish_pending_handlers() -> None:
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


@pytest.fixture(scope="module")
def gw(upstreams: list[MockOpenAI], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    text = CONFIG.format(**{f"up{i}": u.base_url for i, u in enumerate(upstreams)})
    gateway = start_gateway(text, "toml", workers=1, directory=tmp_path_factory.mktemp("profile-overrides"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def up(upstreams: list[MockOpenAI]) -> Iterator[list[MockOpenAI]]:
    """The upstreams, healthy and with no recorded request at the start and end of each test."""

    def reset() -> None:
        for mock in upstreams:
            mock.always = None
            mock._faults.clear()
            mock.requests.clear()

    reset()
    try:
        yield upstreams
    finally:
        reset()


@pytest.fixture(scope="module")
def clients(gw: Gateway) -> Iterator[dict[str | None, openai.OpenAI]]:
    """One SDK client per profile (None: no profile header), closed at the end."""
    made = {
        profile: openai.OpenAI(
            base_url=gw.base_url + "/v1",
            api_key=UNCHECKED,
            max_retries=0,
            default_headers={"x-ferrogate-config": profile} if profile is not None else None,
        )
        for profile in (None, "cheapest", "primary-only", "up2-only", "persistent", "impatient", "short-budget")
    }
    try:
        yield made
    finally:
        for client in made.values():
            client.close()


Clients = dict[str | None, openai.OpenAI]
Ups = list[MockOpenAI]


def _chat(clients: Clients, profile: str | None, model: str = "m") -> Any:
    return clients[profile].chat.completions.with_raw_response.create(model=model, messages=HI)


def _served_by(raw: Any) -> str:
    return raw.headers["x-ferrogate-provider"]


def test_a_profile_strategy_sends_the_request_where_the_model_strategy_would_not(clients: Clients, up: Ups) -> None:
    assert _served_by(_chat(clients, None)) == "up0"  # the model routes by priority
    assert _served_by(_chat(clients, "cheapest")) == "up1"  # the profile routes by cost
    assert [len(u.requests) for u in up] == [1, 1, 0]


def test_a_streamed_request_follows_the_profile_strategy_too(clients: Clients, up: Ups) -> None:
    with clients["cheapest"].chat.completions.with_streaming_response.create(
        model="m", messages=HI, stream=True
    ) as response:
        assert response.headers["x-ferrogate-provider"] == "up1"
        assert any(chunk.choices for chunk in response.parse())


def test_without_the_profile_a_failing_primary_falls_back(clients: Clients, up: Ups) -> None:
    up[0].always = Fault(status=500)
    raw = _chat(clients, None)
    assert _served_by(raw) == "up1"
    assert raw.headers["x-ferrogate-attempts"] == "2"


def test_with_fallbacks_disabled_a_failing_primary_gives_its_error(clients: Clients, up: Ups) -> None:
    up[0].always = Fault(status=500)
    with pytest.raises(openai.InternalServerError) as info:
        clients["primary-only"].chat.completions.create(model="m", messages=HI)
    assert info.value.response.headers["x-ferrogate-config"] == "primary-only"
    assert info.value.response.headers["x-ferrogate-attempts"] == "1"
    assert [len(u.requests) for u in up] == [1, 0, 0]


def test_allowed_providers_send_the_request_only_to_those_providers(clients: Clients, up: Ups) -> None:
    raw = _chat(clients, "up2-only")
    assert _served_by(raw) == "up2"
    assert raw.headers["x-ferrogate-model"] == "model-2"
    assert [len(u.requests) for u in up] == [0, 0, 1]


def test_allowed_providers_leave_no_fallback_outside_them(clients: Clients, up: Ups) -> None:
    up[2].always = Fault(status=500)
    with pytest.raises(openai.InternalServerError):
        clients["up2-only"].chat.completions.create(model="m", messages=HI)
    assert [len(u.requests) for u in up] == [0, 0, 1]


def test_allowed_providers_cannot_reach_a_provider_a_policy_refuses(clients: Clients, up: Ups) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        clients["up2-only"].chat.completions.create(model="guarded", messages=HI)
    assert info.value.code == "policy_denied"
    assert [len(u.requests) for u in up] == [0, 0, 0]


def test_a_profile_retry_count_replaces_the_configured_one(clients: Clients, up: Ups) -> None:
    up[0].always = Fault(status=500)
    with pytest.raises(openai.InternalServerError) as plain:
        clients[None].chat.completions.create(model="solo", messages=HI)
    assert plain.value.response.headers["x-ferrogate-attempts"] == "1"
    with pytest.raises(openai.InternalServerError) as retried:
        clients["persistent"].chat.completions.create(model="solo", messages=HI)
    assert retried.value.response.headers["x-ferrogate-attempts"] == "4"
    assert len(up[0].requests) == 1 + 4


def test_retries_under_a_profile_end_in_success_when_the_provider_recovers(clients: Clients, up: Ups) -> None:
    up[0].enqueue(Fault(status=500), Fault(status=500))
    raw = _chat(clients, "persistent", model="solo")
    assert raw.headers["x-ferrogate-attempts"] == "3"
    assert raw.parse().choices[0].message.content


def test_without_the_profile_a_slow_first_byte_is_waited_for(clients: Clients, up: Ups) -> None:
    up[0].enqueue(Fault(first_byte_delay=1.0))
    raw = _chat(clients, None)
    assert _served_by(raw) == "up0"
    assert raw.headers["x-ferrogate-attempts"] == "1"


def test_a_profile_first_byte_timeout_gives_up_on_a_slow_provider_and_falls_back(clients: Clients, up: Ups) -> None:
    up[0].enqueue(Fault(first_byte_delay=1.0))
    raw = _chat(clients, "impatient")
    assert _served_by(raw) == "up1"
    assert raw.headers["x-ferrogate-attempts"] == "2"


def test_a_profile_dispatch_timeout_bounds_each_attempt(clients: Clients, up: Ups) -> None:
    up[0].always = Fault(first_byte_delay=1.0)
    with pytest.raises(openai.APIStatusError) as info:
        clients["short-budget"].chat.completions.create(model="solo", messages=HI)
    assert info.value.status_code == 504


def test_a_token_count_is_answered_by_a_provider_the_profile_allows(gw: Gateway, up: Ups) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    url = gw.base_url + "/v1/messages/count_tokens"
    assert httpx.post(url, json=body).headers["x-ferrogate-provider"] == "up0"
    r = httpx.post(url, json=body, headers={"x-ferrogate-config": "up2-only"})
    assert r.status_code == 200 and r.headers["x-ferrogate-provider"] == "up2"
