"""OpenTelemetry spans made from request records, with their real start and end times.

The workers make the trace and span ids (``pipeline.trace_context``) and send the
attempt's span id upstream in ``traceparent``; the control process turns each record
into a SERVER span for the request (the caller's span as its parent) and a CLIENT child
span per upstream attempt. Attribute names follow the OpenTelemetry GenAI and HTTP
semantic conventions: ``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens``,
``gen_ai.usage.output_tokens``, ``http.request.method``, ``http.response.status_code``,
``url.path``, ``error.type``; gateway facts under ``ferrogate.*``.
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ferrogate.ipc.request_records import RequestRecord

SCOPE = InstrumentationScope("ferrogate")

# The GenAI operation and the URL path of each endpoint (Responses and Messages are chats).
OPERATIONS = {
    "chat": ("chat", "/v1/chat/completions"),
    "responses": ("chat", "/v1/responses"),
    "messages": ("chat", "/v1/messages"),
    "embeddings": ("embeddings", "/v1/embeddings"),
    "tools": ("execute_tool", "/v1/tools/execute"),  # an MCP tool call: gen_ai.tool.name is the tool
}
_NS_PER_MS = 1_000_000
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _context(trace_id: int, span_hex: str, remote: bool = False) -> SpanContext:
    return SpanContext(trace_id=trace_id, span_id=int(span_hex, 16), is_remote=remote, trace_flags=_SAMPLED)


def spans_of(record: RequestRecord, resource: Resource) -> list[ReadableSpan]:
    """The request's span and its attempts' spans; none for a record without trace ids."""
    if record.trace_id is None or record.span_id is None:
        return []
    trace_id = int(record.trace_id, 16)
    operation, path = OPERATIONS.get(record.endpoint, (record.endpoint, ""))
    start = int(record.at * 1e9)
    me = _context(trace_id, record.span_id)
    parent = None if record.parent_span_id is None else _context(trace_id, record.parent_span_id, remote=True)
    attributes: dict[str, str | int | bool] = {
        "gen_ai.operation.name": operation,
        "http.request.method": "POST",
        "http.response.status_code": record.status,
        "url.path": path,
        "ferrogate.request_id": record.request_id,
        "ferrogate.attempts": record.attempts,
        "ferrogate.cache_hit": record.cache_hit,
        "ferrogate.stream": record.stream,
    }
    for name, value in (
        ("gen_ai.request.model", record.model),
        ("gen_ai.provider.name", record.provider),
        ("gen_ai.response.model", record.provider_model),
        ("ferrogate.key_id", record.key_id),
        ("ferrogate.tenant", record.tenant),
        ("error.type", record.error_code),
    ):
        if value is not None:
            attributes[name] = value
    if record.endpoint == "tools" and record.model is not None:
        attributes["gen_ai.tool.name"] = record.model
    if record.usage_source is not None:
        attributes["gen_ai.usage.input_tokens"] = record.input_tokens
        attributes["gen_ai.usage.output_tokens"] = record.output_tokens
    failed = record.status >= 500 or record.status == 0
    spans = [
        ReadableSpan(
            name=f"{operation} {record.model}" if record.model else operation,
            context=me,
            parent=parent,
            resource=resource,
            attributes=attributes,
            kind=SpanKind.SERVER,
            status=Status(StatusCode.ERROR if failed else StatusCode.UNSET),
            start_time=start,
            end_time=start + int(record.duration_ms * _NS_PER_MS),
            instrumentation_scope=SCOPE,
        )
    ]
    for attempt in record.attempt_log:
        if attempt.span_id is None:
            continue
        begin = start + int(attempt.start_ms * _NS_PER_MS)
        child: dict[str, str | int | bool] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": attempt.provider,
            "gen_ai.request.model": attempt.provider_model,
            "http.request.method": "POST",
        }
        if attempt.status:
            child["http.response.status_code"] = attempt.status
        if attempt.error_kind is not None:
            child["error.type"] = attempt.error_kind
        spans.append(
            ReadableSpan(
                name=f"{operation} {attempt.provider_model}",
                context=_context(trace_id, attempt.span_id),
                parent=me,
                resource=resource,
                attributes=child,
                kind=SpanKind.CLIENT,
                status=Status(StatusCode.ERROR if attempt.error_kind is not None else StatusCode.UNSET),
                start_time=begin,
                end_time=begin + int(attempt.duration_ms * _NS_PER_MS),
                instrumentation_scope=SCOPE,
            )
        )
    return spans
