"""OTLP metrics and logs made from request records (in memory), and the exporter that owns the
three signals: bounded and non-blocking on submit, everything flushed to a real collector
(rotel) on close, and the SDK never imported unless an endpoint is configured."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, Metric

from ferrogate.config.model import Config, Model, Provider, Telemetry
from ferrogate.control import otlp_export
from ferrogate.control.otlp_export import OtlpExport
from ferrogate.ipc.record_summary import RecordBlob, encode_blob
from ferrogate.ipc.request_records import PICO_PER_USD, RequestRecord
from ferrogate.observability import otlp_logs
from ferrogate.observability.otlp_metrics import (
    MAX_ERROR_TYPES,
    GenAiBatch,
    GenAiMetrics,
    KnownNames,
)
from ferrogate.observability.otlp_proto import Memo
from tests.support.gateway import REPO_ROOT
from tests.support.ports import free_port
from tests.support.rotel import Rotel
from tests.support.scripted_collector import Collector

TRACE = "ab" * 16
SPAN = "cd" * 8


def _record(**fields: object) -> RequestRecord:
    base: dict[str, object] = dict(
        event_id="ev-1", at=1_700_000_000.0, request_id="req-1", endpoint="chat", status=200, duration_ms=250.0,
        overhead_ms=0.4, ttft_ms=80.0, trace_id=TRACE, span_id=SPAN, key_id="key-9", model="m", provider="up",
        provider_model="pm", attempts=1, input_tokens=11, output_tokens=7, usage_source="provider",
        cost_pico=25 * PICO_PER_USD // 1_000_000,
    )
    base.update(fields)
    return RequestRecord(**base)  # type: ignore[arg-type]


def _config(endpoint: str | None = "http://127.0.0.1:9") -> Config:
    return Config(
        telemetry=Telemetry(otlp_endpoint=endpoint, service_name="svc-test"),
        providers=[Provider(name="up", kind="openai-compatible")],
        models=[Model(name="m", provider="up", provider_model="pm")],
    )


def _values(attributes: Iterable[KeyValue]) -> dict[str, object]:
    return {a.key: getattr(a.value, str(a.value.WhichOneof("value"))) for a in attributes}


class _Point:
    """A decoded histogram point, its attributes as a dict."""

    def __init__(self, point: HistogramDataPoint) -> None:
        self.attributes = _values(point.attributes)
        self.count, self.sum = point.count, point.sum


@pytest.fixture
def genai() -> GenAiMetrics:
    return GenAiMetrics(KnownNames.of(_config()))


def _points(genai: GenAiMetrics, name: str) -> list[_Point]:
    metrics = [Metric.FromString(m) for m in genai.messages(time.time_ns())]
    return [_Point(p) for m in metrics if m.name == name for p in m.histogram.data_points]


def _add(genai: GenAiMetrics, record: RequestRecord) -> None:
    """Add one record to ``genai`` as a worker's batch of one would."""
    genai.add(GenAiBatch().observe([record]), 1)


def _feed(export: OtlpExport, records: list[RequestRecord]) -> None:
    """What the control process hands the exporter for a worker's batch: the records (for logs
    and traces) and the batch's GenAI increments, summed as the worker sums them."""
    export.submit_blob(encode_blob(records))
    export.submit_increments(GenAiBatch().observe(records))


# -- metrics


def test_tokens_are_recorded_by_type(genai: GenAiMetrics) -> None:
    _add(genai, _record())
    by_type = {p.attributes["gen_ai.token.type"]: p.sum for p in _points(genai, "gen_ai.client.token.usage")}
    assert by_type == {"input": 11, "output": 7}


def test_a_request_without_usage_records_no_tokens(genai: GenAiMetrics) -> None:
    _add(genai, _record(usage_source=None, input_tokens=0, output_tokens=0, status=401, error_code="invalid_api_key"))
    assert _points(genai, "gen_ai.client.token.usage") == []
    (duration,) = _points(genai, "gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "invalid_api_key"


def test_duration_is_in_seconds_with_bounded_attributes(genai: GenAiMetrics) -> None:
    _add(genai, _record())
    (point,) = _points(genai, "gen_ai.client.operation.duration")
    assert point.sum == 0.25
    assert point.attributes == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "up",
        "gen_ai.request.model": "m", "gen_ai.response.model": "pm",
    }


def test_names_the_config_does_not_know_count_as_other(genai: GenAiMetrics) -> None:
    _add(genai, _record(model="caller-typed-anything", provider="elsewhere", provider_model="x-1"))
    (point,) = _points(genai, "gen_ai.client.operation.duration")
    attributes = point.attributes
    assert [attributes[k] for k in ("gen_ai.request.model", "gen_ai.provider.name", "gen_ai.response.model")] == [
        "other", "other", "other"
    ]


def test_error_types_are_bounded(genai: GenAiMetrics) -> None:
    for i in range(MAX_ERROR_TYPES + 5):
        _add(genai, _record(status=502, error_code=f"kind-{i}"))
    kinds = {p.attributes["error.type"] for p in _points(genai, "gen_ai.client.operation.duration")}
    assert len(kinds) == MAX_ERROR_TYPES + 1 and "other" in kinds


def test_time_to_first_token_is_recorded_for_streams_only(genai: GenAiMetrics) -> None:
    _add(genai, _record(stream=False))
    assert _points(genai, "gen_ai.server.time_to_first_token") == []
    _add(genai, _record(stream=True))
    (point,) = _points(genai, "gen_ai.server.time_to_first_token")
    assert (point.count, point.sum) == (1, 0.08)


# -- logs


def test_the_log_is_in_the_requests_trace() -> None:
    got = LogRecord.FromString(otlp_logs.log_message(_record(), time.time_ns(), Memo()))
    assert (got.trace_id.hex(), got.span_id.hex()) == (TRACE, SPAN)
    assert (got.body.string_value, got.event_name) == ("ferrogate.request", "ferrogate.request")
    assert got.time_unix_nano == int((1_700_000_000.0 + 0.25) * 1e9)


def test_a_log_without_trace_ids_is_in_no_trace() -> None:
    got = LogRecord.FromString(otlp_logs.log_message(_record(trace_id=None, span_id=None), time.time_ns(), Memo()))
    assert (got.trace_id, got.span_id, got.flags) == (b"", b"", 0)


def test_the_log_has_the_cost_as_an_exact_decimal_and_the_key_id() -> None:
    attributes = _values(LogRecord.FromString(otlp_logs.log_message(_record(), time.time_ns(), Memo())).attributes)
    assert (attributes["ferrogate.cost_usd"], attributes["ferrogate.key_id"]) == ("0.000025", "key-9")
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (11, 7)


@pytest.mark.parametrize(("status", "level", "text"), [
    (200, SeverityNumber.SEVERITY_NUMBER_INFO, "INFO"), (429, SeverityNumber.SEVERITY_NUMBER_WARN, "WARN"),
    (502, SeverityNumber.SEVERITY_NUMBER_ERROR, "ERROR"), (0, SeverityNumber.SEVERITY_NUMBER_ERROR, "ERROR"),
])
def test_the_logs_severity_follows_the_status(status: int, level: int, text: str) -> None:
    got = LogRecord.FromString(otlp_logs.log_message(_record(status=status), time.time_ns(), Memo()))
    assert (got.severity_number, got.severity_text) == (level, text)


# -- the exporter


def test_a_batch_of_encoded_records_that_does_not_fit_is_dropped_whole_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(otlp_export, "MAX_QUEUED", 3)
    export = OtlpExport(lambda: _config())  # not started: nothing drains the queue
    try:
        export.submit_blob(encode_blob([_record()] * 2))
        export.submit_blob(encode_blob([_record()] * 2))
        export.submit_blob(encode_blob([_record()]))
        assert export.dropped == 2
    finally:
        export.close(timeout=1)


def test_a_batch_that_does_not_decode_is_skipped_and_the_next_is_exported(collector: Collector) -> None:
    export = OtlpExport(lambda: _config(collector.url), {"OTEL_METRICS_EXPORTER": "none"})
    export.submit_blob(RecordBlob(1, 0.0, 0.0, b"\xc1"))  # not msgpack
    export.submit_blob(encode_blob([_record(request_id="req-after")]))
    export.close(timeout=5)
    (logs,) = [p for p in collector.posts if p.path.endswith("/v1/logs")]
    (log,) = ExportLogsServiceRequest.FromString(logs.body).resource_logs[0].scope_logs[0].log_records
    assert _values(log.attributes)["ferrogate.request_id"] == "req-after"


def test_close_flushes_spans_metrics_and_logs_to_a_real_collector(tmp_path: Path) -> None:
    rotel = Rotel(tmp_path).start()
    try:
        export = OtlpExport(lambda: _config(rotel.url))
        export.start()
        _feed(export, [_record(request_id="req-flushed")])
        export.close()  # the metrics' own interval is 60 s: only the flush sends them now
        got = rotel.wait_for("all three signals", lambda r: [r] if r.spans and r.points and r.logs else [])[0]
        assert [s.attributes["ferrogate.request_id"] for s in got.spans] == ["req-flushed"]
        assert [g.attributes["ferrogate.request_id"] for g in got.logs] == ["req-flushed"]
        assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"} <= {p.metric for p in got.points}
        assert got.spans[0].resource["service.name"] == "svc-test"
    finally:
        rotel.stop()


BURST = 8_000  # about eight export requests of logs


def test_a_burst_of_records_loses_no_log(tmp_path: Path) -> None:
    rotel = Rotel(tmp_path).start()
    try:
        export = OtlpExport(lambda: _config(rotel.url))
        export.start()
        export.submit_blob(encode_blob([_record(request_id=f"burst-{i}", trace_id=None, span_id=None)
                                     for i in range(BURST)]))
        export.close()
        logs = rotel.wait_for("the logs", lambda r: r.logs if len(r.logs) >= BURST else [], timeout=20)
        assert len({g.attributes["ferrogate.request_id"] for g in logs}) == BURST
    finally:
        rotel.stop()


def test_close_gives_up_on_a_collector_that_does_not_answer() -> None:
    export = OtlpExport(lambda: _config(f"http://127.0.0.1:{free_port()}"))  # nobody listens there
    export.start()
    export.submit_blob(encode_blob([_record()]))
    started = time.monotonic()
    export.close(timeout=1.0)
    assert time.monotonic() - started < 2.0


def test_the_control_process_imports_no_opentelemetry_until_an_endpoint_is_set() -> None:
    code = "import sys, json, ferrogate.control.main; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert [m for m in json.loads(out.stdout) if m.startswith("opentelemetry")] == []


def test_after_a_reload_a_newly_named_model_counts_under_its_name(genai: GenAiMetrics) -> None:
    _add(genai, _record(model="new-model"))
    genai.follow(KnownNames(["m", "new-model"], ["up"], ["pm"]))
    _add(genai, _record(model="new-model"))
    models = sorted(p.attributes["gen_ai.request.model"] for p in _points(genai, "gen_ai.client.operation.duration"))
    assert models == ["new-model", "other"]


def _export_one(collector: Collector, record: RequestRecord, env: dict[str, str]) -> list[str]:
    """The paths the exporter posted to for ``record`` (sent on close)."""
    export = OtlpExport(lambda: _config(collector.url), env)
    _feed(export, [record])
    export.close(timeout=5)
    return [p.path for p in collector.posts]


def test_a_signal_whose_exporter_is_none_is_not_sent(collector: Collector) -> None:
    env = {"OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    assert _export_one(collector, _record(), env) == ["/otlp/v1/traces"]


def test_an_unsampled_request_is_logged_and_measured_but_has_no_span(collector: Collector) -> None:
    assert sorted(_export_one(collector, _record(trace_sampled=False), {})) == ["/otlp/v1/logs", "/otlp/v1/metrics"]
    logs = ExportLogsServiceRequest.FromString(collector.posts[0].body)
    (log,) = logs.resource_logs[0].scope_logs[0].log_records
    assert (log.trace_id.hex(), log.span_id.hex(), log.flags) == (TRACE, SPAN, 0)
