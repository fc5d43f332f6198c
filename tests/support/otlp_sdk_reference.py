"""What the OpenTelemetry SDK itself would send for a request record: the oracle the
hand-written OTLP encoders (``ferrogate/observability/otlp_*``) are held to.

Spans are built as SDK ``ReadableSpan``s and encoded with the SDK's ``encode_spans``; the
log is emitted through an SDK ``LoggerProvider`` and encoded with ``encode_logs``; the
metrics are recorded on SDK histograms and read back with an ``InMemoryMetricReader``.
Attribute choices are written out here on their own, from the semantic conventions the
docs promise, so a slip in the encoders' choices shows up as a difference.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from ferrogate.ipc.request_records import RequestRecord, usd

EVENT = "ferrogate.request"

SCOPE = InstrumentationScope("ferrogate")
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
OPERATIONS = {"chat": ("chat", "/v1/chat/completions"), "responses": ("chat", "/v1/responses"),
              "messages": ("chat", "/v1/messages"), "embeddings": ("embeddings", "/v1/embeddings"),
              "tools": ("execute_tool", "/v1/tools/execute")}


def _context(trace_id: int, span_hex: str, remote: bool = False) -> SpanContext:
    return SpanContext(trace_id=trace_id, span_id=int(span_hex, 16), is_remote=remote, trace_flags=SAMPLED)


def sdk_spans(record: RequestRecord, resource: Resource) -> list[ReadableSpan]:
    """The request's SERVER span and a CLIENT span per traced attempt, as SDK spans (none
    when the sampler left the trace out: the SDK would not have recorded them)."""
    if record.trace_id is None or record.span_id is None or not record.trace_sampled:
        return []
    trace_id = int(record.trace_id, 16)
    operation, path = OPERATIONS.get(record.endpoint, (record.endpoint, ""))
    start = int(record.at * 1e9)
    me = _context(trace_id, record.span_id)
    parent = None if record.parent_span_id is None else _context(trace_id, record.parent_span_id, remote=True)
    attributes: dict[str, str | int | bool] = {
        "gen_ai.operation.name": operation, "http.request.method": "POST",
        "http.response.status_code": record.status, "url.path": path, "ferrogate.attempts": record.attempts,
        "ferrogate.cache_hit": record.cache_hit, "ferrogate.stream": record.stream,
    }
    for name, value in (("gen_ai.request.model", record.model), ("gen_ai.provider.name", record.provider),
                        ("gen_ai.response.model", record.provider_model), ("ferrogate.key_id", record.key_id),
                        ("ferrogate.tenant", record.tenant), ("error.type", record.error_code)):
        if value is not None:
            attributes[name] = value
    if record.endpoint == "tools" and record.model is not None:
        attributes["gen_ai.tool.name"] = record.model
    attributes["ferrogate.request_id"] = record.request_id
    if record.usage_source is not None:
        attributes["gen_ai.usage.input_tokens"] = record.input_tokens
        attributes["gen_ai.usage.output_tokens"] = record.output_tokens
    failed = record.status >= 500 or record.status == 0
    spans = [ReadableSpan(
        name=f"{operation} {record.model}" if record.model else operation, context=me, parent=parent,
        resource=resource, attributes=attributes, kind=SpanKind.SERVER,
        status=Status(StatusCode.ERROR if failed else StatusCode.UNSET), start_time=start,
        end_time=start + int(record.duration_ms * 1_000_000), instrumentation_scope=SCOPE,
    )]
    for attempt in record.attempt_log:
        if attempt.span_id is None:
            continue
        begin = start + int(attempt.start_ms * 1_000_000)
        child: dict[str, str | int | bool] = {
            "gen_ai.operation.name": operation, "gen_ai.provider.name": attempt.provider,
            "gen_ai.request.model": attempt.provider_model, "http.request.method": "POST",
        }
        if attempt.status:
            child["http.response.status_code"] = attempt.status
        if attempt.error_kind is not None:
            child["error.type"] = attempt.error_kind
        spans.append(ReadableSpan(
            name=f"{operation} {attempt.provider_model}", context=_context(trace_id, attempt.span_id), parent=me,
            resource=resource, attributes=child, kind=SpanKind.CLIENT,
            status=Status(StatusCode.ERROR if attempt.error_kind is not None else StatusCode.UNSET),
            start_time=begin, end_time=begin + int(attempt.duration_ms * 1_000_000), instrumentation_scope=SCOPE,
        ))
    return spans


def sdk_traces_request(records: Iterable[RequestRecord], resource: Resource) -> ExportTraceServiceRequest:
    return encode_spans([s for r in records for s in sdk_spans(r, resource)])


def millis(value: float) -> float:
    """The gateway's millisecond attributes: to the microsecond, half to even."""
    return round(value * 1000.0) / 1000.0


def log_attributes(record: RequestRecord) -> dict[str, str | int | float | bool]:
    """The record's shippable fields, under GenAI / HTTP convention names where they exist
    (what the docs list for the log record)."""
    operation, path = OPERATIONS.get(record.endpoint, (record.endpoint, ""))
    out: dict[str, str | int | float | bool] = {
        "gen_ai.operation.name": operation, "url.path": path, "http.response.status_code": record.status,
        "ferrogate.attempts": record.attempts, "ferrogate.stream": record.stream,
        "ferrogate.cache_hit": record.cache_hit,
    }
    for name, value in (
        ("ferrogate.key_id", record.key_id), ("ferrogate.tenant", record.tenant),
        ("ferrogate.profile_id", record.profile_id), ("gen_ai.request.model", record.model),
        ("gen_ai.provider.name", record.provider), ("gen_ai.response.model", record.provider_model),
        ("error.type", record.error_code), ("ferrogate.error_source", record.error_source),
        ("ferrogate.cache", record.cache),
    ):
        if value is not None:
            out[name] = value
    if record.usage_source is not None:
        out["ferrogate.usage_source"] = record.usage_source
    out.update({
        "ferrogate.request_id": record.request_id, "ferrogate.event_id": record.event_id,
        "ferrogate.duration_ms": millis(record.duration_ms), "ferrogate.overhead_ms": millis(record.overhead_ms),
        "ferrogate.cost_usd": usd(record.cost_pico),
    })
    if record.ttft_ms is not None:
        out["ferrogate.ttft_ms"] = millis(record.ttft_ms)
    if record.usage_source is not None:
        out["gen_ai.usage.input_tokens"] = record.input_tokens
        out["gen_ai.usage.output_tokens"] = record.output_tokens
        out["ferrogate.usage.cached_tokens"] = record.cached_tokens
        out["ferrogate.usage.reasoning_tokens"] = record.reasoning_tokens
    if record.saved_cost_pico:
        out["ferrogate.saved_cost_usd"] = usd(record.saved_cost_pico)
    return out


def sdk_logs_request(records: Iterable[RequestRecord], resource: Resource) -> ExportLogsServiceRequest:
    """The records' logs emitted through the SDK and encoded by it."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger(SCOPE.name)
    for record in records:
        context = None
        if record.trace_id is not None and record.span_id is not None:
            flags = SAMPLED if record.trace_sampled else TraceFlags(TraceFlags.DEFAULT)
            span = SpanContext(int(record.trace_id, 16), int(record.span_id, 16), is_remote=False, trace_flags=flags)
            context = set_span_in_context(NonRecordingSpan(span))
        failed, refused = record.status >= 500 or record.status == 0, record.status >= 400
        level = SeverityNumber.ERROR if failed else SeverityNumber.WARN if refused else SeverityNumber.INFO
        logger.emit(timestamp=int((record.at + record.duration_ms / 1000.0) * 1e9), context=context,
                    severity_number=level, severity_text=level.name, body=EVENT,
                    attributes=log_attributes(record), event_name=EVENT)
    try:
        return encode_logs(exporter.get_finished_logs())
    finally:
        provider.shutdown()


class SdkHistograms:
    """The four GenAI histograms on SDK instruments, fed the attribute sets the encoder chose:
    the SDK's aggregation is what is compared."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)
        meter = self.provider.get_meter("ferrogate")
        from ferrogate.observability import otlp_metrics as m
        self.instruments = {
            name: meter.create_histogram(name, unit=unit, explicit_bucket_boundaries_advisory=bounds)
            for name, unit, bounds in (
                ("gen_ai.client.token.usage", "{token}", m.TOKEN_BUCKETS),
                ("gen_ai.client.operation.duration", "s", m.DURATION_BUCKETS),
                ("gen_ai.server.time_to_first_token", "s", m.TTFT_BUCKETS),
                ("http.server.request.duration", "s", m.HTTP_BUCKETS),
            )
        }

    def record(self, name: str, value: float, attributes: dict[str, str | int]) -> None:
        self.instruments[name].record(value, attributes)

    def points(self) -> dict[tuple[str, frozenset[tuple[str, str | int]]], HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        assert data is not None
        out = {}
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        assert isinstance(point, HistogramDataPoint)
                        out[(metric.name, frozenset(point.attributes.items()))] = point
        return out


def record_on_sdk(histograms: SdkHistograms, attributes: dict[str, str | int], record: RequestRecord) -> None:
    """Record ``record`` on the SDK histograms as the docs say each histogram is fed, under
    the GenAI attribute set the encoder chose for it (tested on its own)."""
    seconds = record.duration_ms / 1000.0
    histograms.record("gen_ai.client.operation.duration", seconds, attributes)
    if record.usage_source is not None:
        for kind, tokens in (("input", record.input_tokens), ("output", record.output_tokens)):
            histograms.record("gen_ai.client.token.usage", tokens, {**attributes, "gen_ai.token.type": kind})
    if record.stream and record.ttft_ms is not None:
        histograms.record("gen_ai.server.time_to_first_token", record.ttft_ms / 1000.0, attributes)
    http: dict[str, str | int] = {"http.request.method": "POST",
                                  "http.route": OPERATIONS.get(record.endpoint, ("", ""))[1],
                                  "http.response.status_code": record.status}
    if record.status >= 500 or record.status == 0:
        http["error.type"] = str(record.status) if record.status else "unanswered"
    histograms.record("http.server.request.duration", seconds, http)
