"""The control process's metrics: what records and heartbeats add, read back as a scrape."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ferrogate.ipc.request_records import PICO_PER_USD, AttemptRecord, RequestRecord
from ferrogate.observability.gateway_metrics import GatewayMetrics


def record(status: int = 200, **fields: object) -> RequestRecord:
    base: dict[str, object] = {"model": "m", "provider": "p", "key_id": "k", "duration_ms": 30.0}
    return RequestRecord(
        event_id="e", at=0.0, request_id="r", endpoint="chat", status=status, overhead_ms=0.2,
        **{**base, **fields},  # type: ignore[arg-type]
    )


def scrape(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_endpoint_model_provider_and_status_class() -> None:
    m = GatewayMetrics(["m"], ["p"])
    m.observe([record(), record(), record(429, error_code="rate_limit_exceeded")])
    s = scrape(m)
    assert value(s, "ferrogate_requests_total", endpoint="chat", model="m", provider="p", status_class="2xx") == 2
    assert value(s, "ferrogate_requests_total", endpoint="chat", model="m", provider="p", status_class="4xx") == 1
    assert value(s, "ferrogate_limit_rejections_total", reason="rate_limit") == 1


def test_a_model_the_config_does_not_have_is_counted_as_other() -> None:
    m = GatewayMetrics(["m"], ["p"])
    m.observe([record(404, model="made-up-by-a-client", provider=None)])
    s = scrape(m)
    assert value(s, "ferrogate_requests_total", endpoint="chat", model="other", provider="", status_class="4xx") == 1


def test_tokens_and_cost_are_counted_in_their_units() -> None:
    m = GatewayMetrics(["m"], ["p"])
    m.observe([record(input_tokens=10, output_tokens=4, cached_tokens=3, cost_pico=PICO_PER_USD // 4)])
    s = scrape(m)
    assert value(s, "ferrogate_tokens_total", model="m", provider="p", direction="input") == 10
    assert value(s, "ferrogate_tokens_total", model="m", provider="p", direction="cached") == 3
    assert value(s, "ferrogate_cost_usd_total", model="m", provider="p") == 0.25


def test_durations_land_in_their_histogram_buckets_in_seconds() -> None:
    m = GatewayMetrics(["m"], ["p"])
    m.observe([record(), record(duration_ms=3000.0)])
    s = scrape(m)
    assert value(s, "ferrogate_request_duration_seconds_bucket", endpoint="chat", model="m", le="0.05") == 1
    assert value(s, "ferrogate_request_duration_seconds_bucket", endpoint="chat", model="m", le="+Inf") == 2
    assert abs(value(s, "ferrogate_request_duration_seconds_sum", endpoint="chat", model="m") - 3.03) < 1e-9


def test_a_retry_and_a_fallback_are_read_from_the_attempt_log() -> None:
    m = GatewayMetrics(["m"], ["p", "q"])
    attempts = (
        AttemptRecord("p", "pm", 0.0, 1.0, 503, "upstream_transient"),
        AttemptRecord("p", "pm", 2.0, 1.0, 503, "upstream_transient"),
        AttemptRecord("q", "qm", 4.0, 1.0, 200),
    )
    m.observe([record(provider="q", attempts=3, attempt_log=attempts)])
    s = scrape(m)
    assert value(s, "ferrogate_upstream_errors_total", provider="p", kind="upstream_transient") == 2
    assert value(s, "ferrogate_retries_total", provider="p") == 1
    assert value(s, "ferrogate_fallbacks_total", model="m") == 1


def test_a_dead_workers_last_heartbeat_stays_in_the_totals() -> None:
    m = GatewayMetrics([], [])
    m.heartbeat(101, {200: 5, 404: 1}, 0)
    m.heartbeat(202, {200: 3}, 2)
    m.heartbeat(303, {200: 1}, 0)  # 202's replacement; 202 sends no more
    s = scrape(m)
    assert value(s, "ferrogate_http_responses_total", code="200") == 9
    assert value(s, "ferrogate_http_responses_total", code="404") == 1
    assert value(s, "ferrogate_records_dropped_total") == 2


def test_the_key_is_a_label_only_when_asked_for() -> None:
    off, on = GatewayMetrics(["m"], ["p"]), GatewayMetrics(["m"], ["p"], key_label=True)
    for m in (off, on):
        m.observe([record()])
    assert value(scrape(off), "ferrogate_requests_total", endpoint="chat", model="m", provider="p", status_class="2xx") == 1
    assert value(scrape(on), "ferrogate_requests_total", endpoint="chat", model="m", provider="p", status_class="2xx", key_id="k") == 1


def test_a_new_worker_with_a_dead_ones_pid_does_not_take_its_counts_away() -> None:
    m = GatewayMetrics([], [])
    m.heartbeat(101, {200: 5}, 1)
    m.heartbeat(101, {200: 2}, 0)  # the pid came back on a fresh worker
    m.heartbeat(101, {200: 3}, 0)
    s = scrape(m)
    assert value(s, "ferrogate_http_responses_total", code="200") == 8
    assert value(s, "ferrogate_records_dropped_total") == 1


def test_records_the_otlp_exporter_dropped_are_counted_only_when_it_is_on() -> None:
    m = GatewayMetrics(["m"], ["p"])
    assert not any(name == "ferrogate_otlp_records_dropped_total" for name, _ in scrape(m))
    m.otlp_dropped = lambda: 7
    assert value(scrape(m), "ferrogate_otlp_records_dropped_total") == 7
