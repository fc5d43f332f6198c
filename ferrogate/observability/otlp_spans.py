"""OpenTelemetry spans made from request records, with their real start and end times.

The workers make the trace and span ids (``pipeline.trace_context``) and send the
attempt's span id upstream in ``traceparent``; the control process turns each record
into a SERVER span for the request (the caller's span as its parent) and a CLIENT child
span per upstream attempt, written straight to OTLP protobuf (``otlp_proto``). Attribute
names follow the OpenTelemetry GenAI and HTTP semantic conventions:
``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.response.model``, ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``,
``http.request.method``, ``http.response.status_code``, ``url.path``, ``error.type``;
gateway facts under ``ferrogate.*``.
"""

from __future__ import annotations

from typing import Final

from msgspec.structs import astuple

from ferrogate.ipc.request_records import RECORD_FIELDS, AttemptRecord, RequestRecord
from ferrogate.observability import otlp_proto as pb

try:
    from ferrogate.observability import _otlp_fields as native
except ImportError:  # not built (make compiled): every record takes the Python writer
    native = None  # type: ignore[assignment]

SCOPE_NAME: Final = "ferrogate"

# The GenAI operation and the URL path of each endpoint (Responses and Messages are chats).
OPERATIONS: Final = {
    "chat": ("chat", "/v1/chat/completions"),
    "responses": ("chat", "/v1/responses"),
    "messages": ("chat", "/v1/messages"),
    "embeddings": ("embeddings", "/v1/embeddings"),
    "tools": ("execute_tool", "/v1/tools/execute"),  # an MCP tool call: gen_ai.tool.name is the tool
}
TOOL_ENDPOINT: Final = "tools"  # its spans name the tool (gen_ai.tool.name)
TRACES_ITEMS: Final = 2  # ScopeSpans.spans

_NS_PER_MS: Final = 1_000_000
# Span fields (opentelemetry/proto/trace/v1/trace.proto).
_TRACE_ID: Final = pb.length_tag(1)
_SPAN_ID: Final = pb.length_tag(2)
_PARENT_SPAN_ID: Final = pb.length_tag(4)
_NAME: Final = pb.length_tag(5)
_ATTRIBUTE: Final = pb.length_tag(9)
_STATUS: Final = pb.length_tag(15)
_KIND_SERVER: Final = pb.varint_field(6, 2)
_KIND_CLIENT: Final = pb.varint_field(6, 3)
_STATUS_UNSET: Final = pb.message_field(_STATUS, b"")
_STATUS_ERROR: Final = pb.message_field(_STATUS, pb.varint_field(3, 2))
# SpanFlags: the context says whether its parent is remote (and here, whether it is).
_LOCAL_PARENT: Final = pb.fixed32_field(16, 0x100)
_REMOTE_PARENT: Final = pb.fixed32_field(16, 0x300)

# Attribute names' key fields, written once.
K_OPERATION: Final = pb.key_prefix("gen_ai.operation.name")
K_PROVIDER: Final = pb.key_prefix("gen_ai.provider.name")
K_REQUEST_MODEL: Final = pb.key_prefix("gen_ai.request.model")
K_RESPONSE_MODEL: Final = pb.key_prefix("gen_ai.response.model")
K_TOOL: Final = pb.key_prefix("gen_ai.tool.name")
K_INPUT_TOKENS: Final = pb.key_prefix("gen_ai.usage.input_tokens")
K_OUTPUT_TOKENS: Final = pb.key_prefix("gen_ai.usage.output_tokens")
K_METHOD: Final = pb.key_prefix("http.request.method")
K_STATUS: Final = pb.key_prefix("http.response.status_code")
K_PATH: Final = pb.key_prefix("url.path")
K_ERROR: Final = pb.key_prefix("error.type")
K_REQUEST_ID: Final = pb.key_prefix("ferrogate.request_id")
K_ATTEMPTS: Final = pb.key_prefix("ferrogate.attempts")
K_CACHE_HIT: Final = pb.key_prefix("ferrogate.cache_hit")
K_STREAM: Final = pb.key_prefix("ferrogate.stream")
K_KEY_ID: Final = pb.key_prefix("ferrogate.key_id")
K_TENANT: Final = pb.key_prefix("ferrogate.tenant")
_POST: Final = pb.str_attribute(_ATTRIBUTE, K_METHOD, "POST")
_OWN_KEYS: Final[tuple[bytes, ...]] = (K_REQUEST_ID, K_INPUT_TOKENS, K_OUTPUT_TOKENS)  # a request span's attributes of its own


def _text(key: bytes, value: str) -> bytes:
    return pb.str_attribute(_ATTRIBUTE, key, value)


def _number(key: bytes, value: int) -> bytes:
    return pb.int_attribute(_ATTRIBUTE, key, value)


def _flag(key: bytes, value: bool) -> bytes:
    return pb.bool_attribute(_ATTRIBUTE, key, value)


_START: Final = pb.fixed64_tag(7)
_END: Final = pb.fixed64_tag(8)


def _times(start: int, duration_ms: float) -> bytes:
    return b"".join((_START, pb.fixed64(start), _END, pb.fixed64(start + int(duration_ms * _NS_PER_MS))))


def _shared(record: RequestRecord, operation: str, path: str) -> bytes:
    """The request span's name, kind, status and the attributes it shares with other
    requests of the same model, key and outcome."""
    parts = [
        pb.string_field(_NAME, f"{operation} {record.model}" if record.model else operation),
        _KIND_SERVER,
        _text(K_OPERATION, operation),
        _POST,
        _number(K_STATUS, record.status),
        _text(K_PATH, path),
        _number(K_ATTEMPTS, record.attempts),
        _flag(K_CACHE_HIT, record.cache_hit),
        _flag(K_STREAM, record.stream),
    ]
    for key, value in (
        (K_REQUEST_MODEL, record.model),
        (K_PROVIDER, record.provider),
        (K_RESPONSE_MODEL, record.provider_model),
        (K_KEY_ID, record.key_id),
        (K_TENANT, record.tenant),
        (K_ERROR, record.error_code),
    ):
        if value is not None:
            parts.append(_text(key, value))
    if record.endpoint == TOOL_ENDPOINT and record.model is not None:
        parts.append(_text(K_TOOL, record.model))
    parts.append(_STATUS_ERROR if record.status >= 500 or record.status == 0 else _STATUS_UNSET)
    return b"".join(parts)


def _attempt_shared(operation: str, attempt: AttemptRecord) -> bytes:
    """An attempt span's name, kind, attributes, status and flags: all but its ids and times."""
    parts = [
        pb.string_field(_NAME, f"{operation} {attempt.provider_model}"),
        _KIND_CLIENT,
        _text(K_OPERATION, operation),
        _text(K_PROVIDER, attempt.provider),
        _text(K_REQUEST_MODEL, attempt.provider_model),
        _POST,
    ]
    if attempt.status:
        parts.append(_number(K_STATUS, attempt.status))
    if attempt.error_kind is not None:
        parts.append(_text(K_ERROR, attempt.error_kind))
    parts.append(_STATUS_UNSET if attempt.error_kind is None else _STATUS_ERROR)
    parts.append(_LOCAL_PARENT)
    return b"".join(parts)


# Where each field ``_otlp_fields.request_spans`` reads sits in a record's tuple (None: the
# operation, the path and whether it is a tool call, passed apart).
_SPAN_FIELDS: Final[tuple[str | None, ...]] = (
    "trace_id", "span_id", "parent_span_id", "at", "duration_ms", None, None, "model", "provider", "provider_model",
    "key_id", "tenant", "error_code", "status", "attempts", "cache_hit", "stream", None, "request_id",
    "usage_source", "input_tokens", "output_tokens", "attempt_log", "trace_sampled",
)
SPAN_INDEX: Final = tuple(-1 if name is None else RECORD_FIELDS.index(name) for name in _SPAN_FIELDS)


def native_spans(record: RequestRecord) -> list[bytes] | None:
    """The C writer's spans of a sampled record; None when it is not built or leaves this record to Python."""
    if native is None:
        return None
    operation, path = OPERATIONS.get(record.endpoint, (record.endpoint, ""))
    return native.request_spans(astuple(record), SPAN_INDEX, operation, path, record.endpoint == TOOL_ENDPOINT)


def span_messages(record: RequestRecord, memo: pb.Memo) -> list[bytes]:
    """The request's span and its attempts' spans, as ``Span`` message bodies; none for a
    record without trace ids or whose trace was not sampled. Written in one C pass when
    ``_otlp_fields`` is built and the record's values are ones it writes (else by
    :func:`span_messages_py`)."""
    if record.trace_id is None or record.span_id is None or not record.trace_sampled:
        return []
    out = native_spans(record)
    return out if out is not None else span_messages_py(record, memo)


def span_messages_py(record: RequestRecord, memo: pb.Memo) -> list[bytes]:
    """:func:`span_messages` in Python; ``memo`` keeps the parts records share."""
    if record.trace_id is None or record.span_id is None or not record.trace_sampled:
        return []
    trace_id = pb.message_field(_TRACE_ID, bytes.fromhex(record.trace_id))
    my_id = bytes.fromhex(record.span_id)
    operation, path = OPERATIONS.get(record.endpoint, (record.endpoint, ""))
    start = int(record.at * 1e9)
    key = (record.endpoint, record.model, record.provider, record.provider_model, record.key_id, record.tenant,
           record.error_code, record.status, record.attempts, record.cache_hit, record.stream)
    shared = memo.get(key)
    if shared is None:
        shared = memo.put(key, _shared(record, operation, path))
    parts = [trace_id, pb.message_field(_SPAN_ID, my_id)]
    if record.parent_span_id is not None:
        parts.append(pb.message_field(_PARENT_SPAN_ID, bytes.fromhex(record.parent_span_id)))
    usage = record.usage_source is not None
    parts += (shared, _times(start, record.duration_ms), pb.key_values(_ATTRIBUTE, _OWN_KEYS, (
        record.request_id, record.input_tokens if usage else None, record.output_tokens if usage else None)))
    parts.append(_LOCAL_PARENT if record.parent_span_id is None else _REMOTE_PARENT)
    spans = [b"".join(parts)]
    me = pb.message_field(_PARENT_SPAN_ID, my_id)
    for attempt in record.attempt_log:
        if attempt.span_id is None:
            continue
        attempt_key = ("attempt", operation, attempt.provider, attempt.provider_model, attempt.status,
                       attempt.error_kind)
        attempt_shared = memo.get(attempt_key)
        if attempt_shared is None:
            attempt_shared = memo.put(attempt_key, _attempt_shared(operation, attempt))
        begin = start + int(attempt.start_ms * _NS_PER_MS)
        spans.append(b"".join((trace_id, pb.message_field(_SPAN_ID, bytes.fromhex(attempt.span_id)), me,
                               attempt_shared, _times(begin, attempt.duration_ms))))
    return spans
