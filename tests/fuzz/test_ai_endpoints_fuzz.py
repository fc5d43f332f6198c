"""Hypothesis-generated bodies against every AI endpoint of a real gateway: only 2xx/4xx.

Wrong types at every field, deep nesting, huge numbers, invalid UTF-8 and duplicate
keys; the gateway must answer each with 2xx or 4xx, in time, log no traceback, and
still be healthy at the end. Two models: the built-in mock, and an OpenAI-shaped
upstream without the Responses API (so /v1/responses and /v1/messages are translated).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ai.conftest import LoopThread
from tests.support.gateway import Gateway, run_gateway
from tests.support.mock_openai import MockOpenAI

ENDPOINTS = ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/messages", "/v1/messages/count_tokens"]
FIELDS = [
    "model", "messages", "input", "stream", "stream_options", "max_tokens", "max_completion_tokens", "tools",
    "tool_choice", "response_format", "system", "text", "instructions", "n", "temperature", "metadata",
    "stop_sequences", "encoding_format", "dimensions", "max_output_tokens", "previous_response_id", "content",
    "role", "type", "function", "input_schema", "name",
]


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[Gateway, MockOpenAI]]:
    loop = LoopThread()
    mock = MockOpenAI()
    loop.run(mock.start())
    config = f"""
[[providers]]
name = "mock"
kind = "mock"

[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{mock.base_url}"
api_key = "sk-up"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"
capabilities = ["chat", "streaming", "tools", "vision", "embeddings", "json_schema", "responses"]

[[models]]
name = "u"
provider = "up"
provider_model = "u"
capabilities = ["chat", "streaming", "tools", "vision", "embeddings", "json_schema"]

[reliability]
provider_dispatch_max_retries = 0
"""
    try:
        with run_gateway(config, workers=1) as gw:
            yield gw, mock
    finally:
        loop.run(mock.stop())
        loop.close()


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=20), st.sampled_from(["m", "u", "user", "assistant", "text", "tool_use"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    ),
    max_leaves=20,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    doc = draw(st.dictionaries(st.sampled_from(FIELDS), _json, max_size=6))
    if draw(st.booleans()):
        doc["model"] = draw(st.sampled_from(["m", "u"]))
    text = json.dumps(doc)
    trick = draw(st.sampled_from(["none", "deep", "dup", "utf8", "huge"]))
    if trick == "deep":
        depth = draw(st.integers(min_value=100, max_value=3000))
        text = text[:-1] + (", " if doc else "") + '"messages": ' + "[" * depth + "]" * depth + "}"
    elif trick == "dup" and doc:
        text = text[:-1] + ', "model": "m"}'
    elif trick == "huge":
        text = text[:-1] + (", " if doc else "") + '"max_tokens": 1' + "0" * 400 + "}"
    raw = text.encode()
    if trick == "utf8":
        raw = raw.replace(b'"m"', b'"\xff\xfe"', 1)
    return raw


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies())
def test_only_2xx_or_4xx_answers(gateway: tuple[Gateway, MockOpenAI], endpoint: str, body: bytes) -> None:
    gw, _ = gateway
    r = httpx.post(
        gw.base_url + endpoint,
        content=body,
        headers={"content-type": "application/json", "anthropic-version": "2023-06-01"},
        timeout=10,
    )
    assert r.status_code < 500, (r.status_code, body[:300], r.text[:300])


def test_the_gateway_logged_no_traceback_and_is_healthy(gateway: tuple[Gateway, MockOpenAI]) -> None:
    gw, _ = gateway
    assert httpx.get(gw.base_url + "/healthz").status_code == 200
    assert "Traceback" not in gw.log()
