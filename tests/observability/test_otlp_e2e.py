"""OpenTelemetry from a running gateway (2 workers) at rotel, a real third-party OTLP collector:
a server span per request continuing the caller's trace and a client span per upstream attempt
with the GenAI attribute names; the GenAI metrics; and one log record per request in its trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mock_openai import MockOpenAI, serving_in_a_thread
from tests.support.rotel import DataPoint, LogRecord, Received, Rotel, Span

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT = "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"


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
input_price_per_1m = "1"
output_price_per_1m = "2"
"""


WAIT_SECS = 15.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockOpenAI]:
    with serving_in_a_thread(MockOpenAI()) as mock:
        yield mock


@pytest.fixture(scope="module")
def rotel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotel]:
    collector = Rotel(tmp_path_factory.mktemp("rotel")).start()
    try:
        yield collector
    finally:
        collector.stop()


def _running(upstream: MockOpenAI, rotel: Rotel, directory: Path, workers: int, env: dict[str, str]
             ) -> Iterator[Gateway]:
    """A gateway exporting to ``rotel`` with the OTel variables ``env``, stopped afterwards."""
    gateway = start_gateway(_config(upstream.base_url, rotel.url), "toml", workers=workers, env=env,
                            directory=directory)
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def gw(upstream: MockOpenAI, rotel: Rotel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"OTEL_METRIC_EXPORT_INTERVAL": "300"}  # ms; the SDK's default is 60 s
    yield from _running(upstream, rotel, tmp_path_factory.mktemp("otlp"), 2, env)


@pytest.fixture(scope="module")
def gw_sampling_off(upstream: MockOpenAI, rotel: Rotel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from _running(upstream, rotel, tmp_path_factory.mktemp("off"), 1, {"OTEL_TRACES_SAMPLER": "always_off"})


@pytest.fixture(scope="module")
def gw_metrics_only(upstream: MockOpenAI, rotel: Rotel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"OTEL_LOGS_EXPORTER": "none", "OTEL_TRACES_EXPORTER": "none", "OTEL_METRIC_EXPORT_INTERVAL": "300",
           "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=metrics-only"}
    yield from _running(upstream, rotel, tmp_path_factory.mktemp("metrics-only"), 2, env)


@pytest.fixture(scope="module")
def gw_traces_only(upstream: MockOpenAI, rotel: Rotel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"OTEL_LOGS_EXPORTER": "none", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=traces-only"}
    yield from _running(upstream, rotel, tmp_path_factory.mktemp("traces-only"), 1, env)


def _chat(gw: Gateway, *, model: str = "traced", status: int = 200, flags: str = "01", **extra: object) -> str:
    """The request id of a chat request made with the caller's traceparent (``flags``: its trace flags)."""
    headers = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-{flags}"}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    answer = httpx.post(gw.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert answer.status_code == status
    return answer.headers["x-request-id"]


def _server_span(rotel: Rotel, request_id: str) -> Span:
    return rotel.wait_for(
        "the request's span",
        lambda got: [s for s in got.spans if s.attributes.get("ferrogate.request_id") == request_id],
        WAIT_SECS,
    )[0]


def _children(rotel: Rotel, parent: Span) -> list[Span]:
    return rotel.wait_for(
        "the attempt's span", lambda got: [s for s in got.spans if s.parent_span_id == parent.span_id], WAIT_SECS
    )


def _points(rotel: Rotel, metric: str, **attributes: object) -> list[DataPoint]:
    """The latest data points of ``metric`` whose attributes include ``attributes``."""
    def matching(got: Received) -> list[DataPoint]:
        return [
            p for p in got.points
            if p.metric == metric and all(p.attributes.get(k) == v for k, v in attributes.items())
        ]
    return rotel.wait_for(f"{metric} {attributes}", matching, WAIT_SECS)


def _logs(rotel: Rotel, request_id: str) -> list[LogRecord]:
    return rotel.wait_for(
        "the request's log",
        lambda got: [g for g in got.logs if g.attributes.get("ferrogate.request_id") == request_id],
        WAIT_SECS,
    )


GENAI = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "up",
    "gen_ai.request.model": "traced", "gen_ai.response.model": "gpt-traced",
}


# -- traces


def test_the_request_span_continues_the_callers_trace(gw: Gateway, rotel: Rotel) -> None:
    span = _server_span(rotel, _chat(gw))
    assert (span.trace_id, span.parent_span_id, span.kind) == (CALLER_TRACE, CALLER_SPAN, SERVER)
    assert span.name == "chat traced"
    assert span.resource["service.name"] == "gateway-under-test"
    assert span.end_ns > span.start_ns


def test_the_request_span_carries_the_genai_attributes(gw: Gateway, rotel: Rotel) -> None:
    a = _server_span(rotel, _chat(gw)).attributes
    assert {k: a[k] for k in GENAI} == GENAI
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)
    assert (a["http.response.status_code"], a["url.path"]) == (200, "/v1/chat/completions")


def test_each_attempt_is_a_client_span_under_the_request_span(gw: Gateway, rotel: Rotel) -> None:
    server = _server_span(rotel, _chat(gw, stream=True))
    (attempt,) = _children(rotel, server)
    assert (attempt.kind, attempt.trace_id, attempt.name) == (CLIENT, CALLER_TRACE, "chat gpt-traced")
    assert attempt.attributes["gen_ai.provider.name"] == "up"
    assert server.start_ns <= attempt.start_ns <= attempt.end_ns <= server.end_ns


def test_the_upstream_gets_the_attempts_span_as_its_parent(gw: Gateway, rotel: Rotel, upstream: MockOpenAI) -> None:
    server = _server_span(rotel, _chat(gw))
    _, trace, parent, _ = upstream.requests[-1].headers["traceparent"].split("-")
    (attempt,) = _children(rotel, server)
    assert (trace, parent) == (CALLER_TRACE, attempt.span_id)


def test_a_request_without_traceparent_starts_a_trace_of_its_own(gw: Gateway, rotel: Rotel) -> None:
    answer = httpx.post(gw.base_url + "/v1/chat/completions",
                        json={"model": "traced", "messages": [{"role": "user", "content": "x"}]}, timeout=10)
    span = _server_span(rotel, answer.headers["x-request-id"])
    assert span.trace_id not in ("", CALLER_TRACE, "0" * 32) and span.parent_span_id == ""


# -- metrics


def test_token_usage_is_a_histogram_per_token_type(gw: Gateway, rotel: Rotel) -> None:
    _chat(gw)
    (inputs, *_) = _points(rotel, "gen_ai.client.token.usage", **GENAI, **{"gen_ai.token.type": "input"})
    (outputs, *_) = _points(rotel, "gen_ai.client.token.usage", **GENAI, **{"gen_ai.token.type": "output"})
    assert (inputs.kind, inputs.unit, outputs.unit) == ("Histogram", "{token}", "{token}")
    assert inputs.count >= 1 and outputs.count >= 1
    assert inputs.resource["service.name"] == "gateway-under-test"


def test_operation_duration_is_a_histogram_in_seconds(gw: Gateway, rotel: Rotel) -> None:
    _chat(gw)
    (point, *_) = _points(rotel, "gen_ai.client.operation.duration", **GENAI)
    assert (point.kind, point.unit) == ("Histogram", "s")
    assert "error.type" not in point.attributes


def test_a_streamed_request_records_its_time_to_first_token(gw: Gateway, rotel: Rotel) -> None:
    _chat(gw, stream=True)
    (point, *_) = _points(rotel, "gen_ai.server.time_to_first_token", **GENAI)
    assert (point.kind, point.unit) == ("Histogram", "s")


def test_a_failure_carries_its_error_type_and_an_unknown_model_counts_as_other(gw: Gateway, rotel: Rotel) -> None:
    _chat(gw, model="no-such-model-7f3a", status=404)
    (point, *_) = _points(rotel, "gen_ai.client.operation.duration", **{"error.type": "model_not_found"})
    assert point.attributes["gen_ai.request.model"] == "other"
    assert "no-such-model-7f3a" not in str([p.attributes for p in rotel.received().points])


def test_requests_are_counted_with_the_http_conventions(gw: Gateway, rotel: Rotel) -> None:
    _chat(gw)
    (point, *_) = _points(rotel, "http.server.request.duration", **{
        "http.request.method": "POST", "http.route": "/v1/chat/completions", "http.response.status_code": 200,
    })
    assert point.count >= 1


def test_a_callers_unsampled_trace_gets_no_span_but_is_continued_upstream_and_logged(
    gw: Gateway, rotel: Rotel, upstream: MockOpenAI
) -> None:
    unsampled = _chat(gw, flags="00")  # the default sampler, parentbased_always_on, follows the caller
    _, trace, _, flags = upstream.requests[-1].headers["traceparent"].split("-")
    assert (trace, flags) == (CALLER_TRACE, "00")
    (log,) = _logs(rotel, unsampled)
    assert log.trace_id == CALLER_TRACE
    _server_span(rotel, _chat(gw))  # a later request's span: the exporter sends in order
    assert not [s for s in rotel.received().spans if s.attributes.get("ferrogate.request_id") == unsampled]


def test_the_workers_follow_otel_traces_sampler(gw_sampling_off: Gateway, rotel: Rotel, upstream: MockOpenAI) -> None:
    unsampled = _chat(gw_sampling_off)  # always_off is not parent-based: the caller's sampled flag loses
    _, trace, _, flags = upstream.requests[-1].headers["traceparent"].split("-")
    assert (trace, flags) == (CALLER_TRACE, "00")
    assert _logs(rotel, unsampled)[0].trace_id == CALLER_TRACE


def test_with_logs_and_traces_off_the_workers_sums_still_count_every_request(gw_metrics_only: Gateway,
                                                                             rotel: Rotel) -> None:
    for _ in range(6):  # over both workers: each sums its own batches
        _chat(gw_metrics_only)

    def counted(got: Received) -> list[DataPoint]:
        return [p for p in got.points if p.metric == "http.server.request.duration" and p.count == 6
                and p.resource.get("deployment.environment") == "metrics-only"]

    rotel.wait_for("six requests counted", counted, WAIT_SECS)
    got = rotel.received()
    assert not [s for s in got.spans if s.resource.get("deployment.environment") == "metrics-only"]
    assert not [g for g in got.logs if g.resource.get("deployment.environment") == "metrics-only"]


def test_with_logs_off_only_sampled_requests_reach_the_collector_as_spans(gw_traces_only: Gateway,
                                                                         rotel: Rotel) -> None:
    unsampled = _chat(gw_traces_only, flags="00")
    _server_span(rotel, _chat(gw_traces_only, flags="01"))  # sent after the unsampled one: in order
    got = rotel.received()
    assert not [s for s in got.spans if s.attributes.get("ferrogate.request_id") == unsampled]
    assert not [g for g in got.logs if g.resource.get("deployment.environment") == "traces-only"]


# -- logs


def test_each_request_has_one_log_record_in_its_trace(gw: Gateway, rotel: Rotel) -> None:
    request_id = _chat(gw)
    span = _server_span(rotel, request_id)
    (log,) = _logs(rotel, request_id)
    assert (log.trace_id, log.span_id) == (CALLER_TRACE, span.span_id)
    assert (log.body, log.event_name, log.severity) == ("ferrogate.request", "ferrogate.request", "INFO")
    assert log.resource["service.name"] == "gateway-under-test"


def test_the_log_record_carries_the_requests_facts(gw: Gateway, rotel: Rotel) -> None:
    (log,) = _logs(rotel, _chat(gw))
    a = log.attributes
    assert {k: a[k] for k in GENAI} == GENAI
    assert (a["http.response.status_code"], a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (200, 11, 7)
    assert a["ferrogate.cost_usd"] == "0.000025"  # 11 x $1/M + 7 x $2/M, exact
    assert isinstance(a["ferrogate.duration_ms"], float) and a["ferrogate.duration_ms"] > 0


def test_a_refused_request_logs_a_warning_with_its_error(gw: Gateway, rotel: Rotel) -> None:
    (log,) = _logs(rotel, _chat(gw, model="no-such-model", status=404))
    assert (log.severity, log.attributes["error.type"], log.attributes["http.response.status_code"]) == (
        "WARN", "model_not_found", 404
    )


def test_no_secret_reaches_the_collector(gw: Gateway, rotel: Rotel) -> None:
    request_id = _chat(gw)
    _logs(rotel, request_id)
    wait_until(lambda: "gen_ai.client.token.usage" in rotel.text(), WAIT_SECS, "the metrics")
    assert "sk-upstream" not in rotel.text()
