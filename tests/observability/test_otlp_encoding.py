"""The hand-written OTLP protobuf encoders against the OpenTelemetry SDK's own: for any
request record, the spans, logs and histograms they write decode to what the SDK would
have sent (``tests/support/otlp_sdk_reference.py``)."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue
from opentelemetry.sdk.resources import Resource

from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_logs import LOGS_ITEMS, log_message
from ferrogate.observability.otlp_metrics import METRICS_ITEMS, GenAiBatch, GenAiMetrics, KnownNames
from ferrogate.observability.otlp_proto import Memo
from ferrogate.observability.otlp_spans import SCOPE_NAME, TRACES_ITEMS, span_messages
from tests.support.otlp_sdk_reference import (
    SdkHistograms,
    record_on_sdk,
    sdk_logs_request,
    sdk_traces_request,
)
from tests.support.record_strategies import records

RESOURCE = Resource.create({"service.name": "svc-encoding", "deployment.environment": "test", "n": 3})

def _with_repeats(batch: list[RequestRecord]) -> list[RequestRecord]:
    """Each record and a twin with its own ids and times, so the encoders' memo is hit."""
    twins = [msgspec.structs.replace(r, request_id=r.request_id + "-2", event_id=r.event_id + "-2", at=r.at + 1.5,
                                     duration_ms=r.duration_ms + 1, input_tokens=r.input_tokens + 1)
             for r in batch]
    return [r for pair in zip(batch, twins, strict=True) for r in pair]


def _ours(items_number: int, items: list[bytes]) -> bytes:
    resource = pb.resource(dict(RESOURCE.attributes))  # type: ignore[arg-type]
    return pb.export_request(resource, pb.scope(SCOPE_NAME), items_number, items, RESOURCE.schema_url)


@settings(max_examples=150, deadline=None)
@given(st.lists(records, min_size=1, max_size=4))
def test_spans_decode_to_what_the_sdk_would_send(batch: list[RequestRecord]) -> None:
    batch = _with_repeats(batch)
    memo = Memo(limit=3)  # small: filled and emptied along the way
    spans = [s for r in batch for s in span_messages(r, memo)]
    expected = sdk_traces_request(batch, RESOURCE)
    if not spans:
        assert not expected.resource_spans
        return
    assert ExportTraceServiceRequest.FromString(_ours(TRACES_ITEMS, spans)) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(records, min_size=1, max_size=4))
def test_logs_decode_to_what_the_sdk_would_send(batch: list[RequestRecord]) -> None:
    batch = _with_repeats(batch)
    memo = Memo(limit=3)
    expected = sdk_logs_request(batch, RESOURCE)
    got = ExportLogsServiceRequest.FromString(_ours(LOGS_ITEMS, [log_message(r, 1, memo) for r in batch]))
    for request in (expected, got):  # the observed time is when each one was made
        for resource_logs in request.resource_logs:
            for scope_logs in resource_logs.scope_logs:
                for log in scope_logs.log_records:
                    log.observed_time_unix_nano = 0
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(records, min_size=1, max_size=30))
def test_histograms_aggregate_and_decode_as_the_sdks_do(batch: list[RequestRecord]) -> None:
    genai = GenAiMetrics(KnownNames(["m"], ["up"], ["pm"]))
    sdk = SdkHistograms()
    try:
        for record in batch:
            series = (record.endpoint, record.provider, record.model, record.provider_model, record.error_code,
                      record.status)
            record_on_sdk(sdk, dict(genai.attributes(series)), record)
            genai.add(GenAiBatch().observe([record]), 1)
        expected = sdk.points()
    finally:
        sdk.provider.shutdown()
    request = ExportMetricsServiceRequest.FromString(_ours(METRICS_ITEMS, genai.messages(2)))
    (scope_metrics,) = request.resource_metrics[0].scope_metrics
    got = {}
    for metric in scope_metrics.metrics:
        assert metric.histogram.aggregation_temporality == 2  # cumulative
        for point in metric.histogram.data_points:
            attributes = frozenset((a.key, getattr(a.value, a.value.WhichOneof("value"))) for a in point.attributes)
            got[(metric.name, attributes)] = point
    assert got.keys() == expected.keys()
    for key, point in got.items():
        want = expected[key]
        assert (point.count, list(point.bucket_counts), list(point.explicit_bounds)) == (
            want.count, list(want.bucket_counts), list(want.explicit_bounds))
        assert (point.sum, point.min, point.max) == (float(want.sum), float(want.min), float(want.max))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_an_int_attribute_is_written_as_protobuf_writes_it(value: int) -> None:
    assert pb.any_value(value) == AnyValue(int_value=value).SerializeToString()


@given(st.floats(allow_nan=False) | st.booleans() | st.text())
def test_a_scalar_attribute_is_written_as_protobuf_writes_it(value: float | bool | str) -> None:
    field = "bool_value" if isinstance(value, bool) else "string_value" if isinstance(value, str) else "double_value"
    assert AnyValue.FromString(pb.any_value(value)) == AnyValue(**{field: value})


def test_a_sequence_attribute_is_an_array_value() -> None:
    expected = AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(string_value="b")]))
    assert AnyValue.FromString(pb.any_value(("a", "b"))) == expected
