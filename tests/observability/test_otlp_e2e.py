"""OpenTelemetry traces of a running gateway (2 workers) at an OTLP/HTTP receiver: a server span
per request continuing the caller's trace, a client span per upstream attempt, the GenAI
attribute names, and the attempt's span sent upstream in traceparent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mock_openai import MockOpenAI, serving_in_a_thread
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # the OTLP span kinds


def _config(upstream: str, receiver: str) -> str:
    return f"""
[telemetry]
otlp_endpoint = "{receiver}"
service_name = "gateway-under-test"

[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{upstream}"
api_key = "sk-upstream"

[[models]]
name = "traced"
provider = "up"
provider_model = "gpt-traced"
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockOpenAI]:
    with serving_in_a_thread(MockOpenAI()) as mock:
        yield mock


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def gw(upstream: MockOpenAI, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(_config(upstream.base_url, receiver.url), "toml", workers=2,
                            directory=tmp_path_factory.mktemp("otlp"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def _chat(gw: Gateway, **extra: object) -> httpx.Response:
    headers = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
    body = {"model": "traced", "messages": [{"role": "user", "content": "hi"}], **extra}
    answer = httpx.post(gw.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert answer.status_code == 200
    return answer


def _server_span(receiver: OtlpReceiver, request_id: str) -> ReceivedSpan:
    spans = wait_until(
        lambda: receiver.find(lambda s: s.attributes.get("ferrogate.request_id") == request_id), 10, "the request's span"
    )
    return spans[0]


def test_the_request_span_continues_the_callers_trace(gw: Gateway, receiver: OtlpReceiver) -> None:
    span = _server_span(receiver, _chat(gw).headers["x-request-id"])
    assert (span.trace_id, span.parent_span_id, span.kind) == (CALLER_TRACE, CALLER_SPAN, SERVER)
    assert span.name == "chat traced"
    assert span.resource["service.name"] == "gateway-under-test"
    assert span.end_ns > span.start_ns


def test_the_request_span_carries_the_genai_attributes(gw: Gateway, receiver: OtlpReceiver) -> None:
    span = _server_span(receiver, _chat(gw).headers["x-request-id"])
    a = span.attributes
    assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"], a["gen_ai.request.model"], a["gen_ai.response.model"]) == (
        "chat", "up", "traced", "gpt-traced"
    )
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)
    assert (a["http.response.status_code"], a["url.path"]) == (200, "/v1/chat/completions")


def test_each_attempt_is_a_client_span_under_the_request_span(gw: Gateway, receiver: OtlpReceiver) -> None:
    server = _server_span(receiver, _chat(gw, stream=True).headers["x-request-id"])
    children = wait_until(lambda: receiver.find(lambda s: s.parent_span_id == server.span_id), 10, "the attempt's span")
    (attempt,) = children
    assert (attempt.kind, attempt.trace_id, attempt.name) == (CLIENT, CALLER_TRACE, "chat gpt-traced")
    assert attempt.attributes["gen_ai.provider.name"] == "up"
    assert server.start_ns <= attempt.start_ns <= attempt.end_ns <= server.end_ns


def test_the_upstream_gets_the_attempts_span_as_its_parent(gw: Gateway, receiver: OtlpReceiver, upstream: MockOpenAI) -> None:
    server = _server_span(receiver, _chat(gw).headers["x-request-id"])
    sent = upstream.requests[-1].headers["traceparent"]
    _, trace, parent, _ = sent.split("-")
    (attempt,) = wait_until(lambda: receiver.find(lambda s: s.parent_span_id == server.span_id), 10, "the attempt's span")
    assert (trace, parent) == (CALLER_TRACE, attempt.span_id)


def test_a_request_without_traceparent_starts_a_trace_of_its_own(gw: Gateway, receiver: OtlpReceiver) -> None:
    answer = httpx.post(gw.base_url + "/v1/chat/completions",
                        json={"model": "traced", "messages": [{"role": "user", "content": "x"}]}, timeout=10)
    span = _server_span(receiver, answer.headers["x-request-id"])
    assert span.trace_id not in ("", CALLER_TRACE, "0" * 32) and span.parent_span_id == ""
