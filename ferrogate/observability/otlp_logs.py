"""One OpenTelemetry log record per request record, linked to the request's span.

The body is the event name (``ferrogate.request``); the attributes are the record's
fields that are safe to ship to a log backend: ids the gateway made (request, event,
key id, tenant, profile), what was asked and who answered, status and error, tokens,
cost as an exact decimal string of USD, and timings. Never a key, a token or a body:
the record carries none. The log's trace and span ids are the request span's, so a
backend can jump from the log to the trace.
"""

from __future__ import annotations

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from ferrogate.ipc.request_records import RequestRecord, usd
from ferrogate.observability.otlp_spans import OPERATIONS

EVENT = "ferrogate.request"
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)

LogValue = str | int | float | bool


def log_attributes(record: RequestRecord) -> dict[str, LogValue]:
    """The record's shippable fields, under GenAI / HTTP convention names where they exist."""
    operation, path = OPERATIONS.get(record.endpoint, (record.endpoint, ""))
    out: dict[str, LogValue] = {
        "ferrogate.request_id": record.request_id,
        "ferrogate.event_id": record.event_id,
        "gen_ai.operation.name": operation,
        "url.path": path,
        "http.response.status_code": record.status,
        "ferrogate.duration_ms": round(record.duration_ms, 3),
        "ferrogate.overhead_ms": round(record.overhead_ms, 3),
        "ferrogate.attempts": record.attempts,
        "ferrogate.stream": record.stream,
        "ferrogate.cache_hit": record.cache_hit,
        "ferrogate.cost_usd": usd(record.cost_pico),
    }
    for name, value in (
        ("ferrogate.key_id", record.key_id),
        ("ferrogate.tenant", record.tenant),
        ("ferrogate.profile_id", record.profile_id),
        ("gen_ai.request.model", record.model),
        ("gen_ai.provider.name", record.provider),
        ("gen_ai.response.model", record.provider_model),
        ("error.type", record.error_code),
        ("ferrogate.error_source", record.error_source),
        ("ferrogate.cache", record.cache),
    ):
        if value is not None:
            out[name] = value
    if record.ttft_ms is not None:
        out["ferrogate.ttft_ms"] = round(record.ttft_ms, 3)
    if record.usage_source is not None:
        out["gen_ai.usage.input_tokens"] = record.input_tokens
        out["gen_ai.usage.output_tokens"] = record.output_tokens
        out["ferrogate.usage.cached_tokens"] = record.cached_tokens
        out["ferrogate.usage.reasoning_tokens"] = record.reasoning_tokens
        out["ferrogate.usage_source"] = record.usage_source
    if record.saved_cost_pico:
        out["ferrogate.saved_cost_usd"] = usd(record.saved_cost_pico)
    return out


def severity(record: RequestRecord) -> SeverityNumber:
    """ERROR for a gateway or upstream failure (5xx, no answer), WARN for a refused request, else INFO."""
    if record.status >= 500 or record.status == 0:
        return SeverityNumber.ERROR
    if record.status >= 400:
        return SeverityNumber.WARN
    return SeverityNumber.INFO


def emit(logger: Logger, record: RequestRecord) -> None:
    """Emit the record's log, timed at the request's end, in its trace when it has one."""
    context = None
    if record.trace_id is not None and record.span_id is not None:
        span = SpanContext(int(record.trace_id, 16), int(record.span_id, 16), is_remote=False, trace_flags=_SAMPLED)
        context = set_span_in_context(NonRecordingSpan(span))
    level = severity(record)
    logger.emit(
        timestamp=int((record.at + record.duration_ms / 1000.0) * 1e9),
        context=context,
        severity_number=level,
        severity_text=level.name,
        body=EVENT,
        attributes=log_attributes(record),
        event_name=EVENT,
    )
