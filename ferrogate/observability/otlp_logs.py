"""One OpenTelemetry log record per request record, linked to the request's span.

The body is the event name (``ferrogate.request``); the attributes are the record's
fields that are safe to ship to a log backend: ids the gateway made (request, event,
key id, tenant, profile), what was asked and who answered, status and error, tokens,
cost as an exact decimal string of USD, and timings. Never a key, a token or a body:
the record carries none. The log's trace and span ids are the request span's, so a
backend can jump from the log to the trace. Written straight to OTLP protobuf
(``otlp_proto``).
"""

from __future__ import annotations

from typing import Final

from msgspec.structs import astuple

from ferrogate.ipc.request_records import RECORD_FIELDS, RequestRecord, usd
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_spans import OPERATIONS

try:
    from ferrogate.observability import _otlp_fields as native
except ImportError:  # not built (make compiled): every record takes the Python writer
    native = None  # type: ignore[assignment]

EVENT: Final = "ferrogate.request"
LOGS_ITEMS: Final = 2  # ScopeLogs.log_records

# SeverityNumber (logs.proto) and the text the SDK gives each.
INFO, WARN, ERROR = 9, 13, 17
_SEVERITY: Final = {
    INFO: pb.varint_field(2, INFO) + pb.string_field(pb.length_tag(3), "INFO"),
    WARN: pb.varint_field(2, WARN) + pb.string_field(pb.length_tag(3), "WARN"),
    ERROR: pb.varint_field(2, ERROR) + pb.string_field(pb.length_tag(3), "ERROR"),
}
_BODY: Final = pb.message_field(pb.length_tag(5), pb.any_value(EVENT))
_EVENT_NAME: Final = pb.string_field(pb.length_tag(12), EVENT)
_ATTRIBUTE: Final = pb.length_tag(6)
_SAMPLED: Final = pb.fixed32_field(8, 1)
_TRACE_ID: Final = pb.length_tag(9)
_SPAN_ID: Final = pb.length_tag(10)
_TIME: Final = pb.fixed64_tag(1)
_OBSERVED_TIME: Final = pb.fixed64_tag(11)

# Attribute names' key fields, written once.
K_REQUEST_ID: Final = pb.key_prefix("ferrogate.request_id")
K_EVENT_ID: Final = pb.key_prefix("ferrogate.event_id")
K_OPERATION: Final = pb.key_prefix("gen_ai.operation.name")
K_PATH: Final = pb.key_prefix("url.path")
K_STATUS: Final = pb.key_prefix("http.response.status_code")
K_DURATION: Final = pb.key_prefix("ferrogate.duration_ms")
K_OVERHEAD: Final = pb.key_prefix("ferrogate.overhead_ms")
K_ATTEMPTS: Final = pb.key_prefix("ferrogate.attempts")
K_STREAM: Final = pb.key_prefix("ferrogate.stream")
K_CACHE_HIT: Final = pb.key_prefix("ferrogate.cache_hit")
K_COST: Final = pb.key_prefix("ferrogate.cost_usd")
K_TTFT: Final = pb.key_prefix("ferrogate.ttft_ms")
K_INPUT_TOKENS: Final = pb.key_prefix("gen_ai.usage.input_tokens")
K_OUTPUT_TOKENS: Final = pb.key_prefix("gen_ai.usage.output_tokens")
K_CACHED_TOKENS: Final = pb.key_prefix("ferrogate.usage.cached_tokens")
K_REASONING_TOKENS: Final = pb.key_prefix("ferrogate.usage.reasoning_tokens")
K_USAGE_SOURCE: Final = pb.key_prefix("ferrogate.usage_source")
K_SAVED_COST: Final = pb.key_prefix("ferrogate.saved_cost_usd")
# The optional text attributes, in the order they are written.
_OPTIONAL: Final[tuple[bytes, ...]] = (
    pb.key_prefix("ferrogate.key_id"), pb.key_prefix("ferrogate.tenant"), pb.key_prefix("ferrogate.profile_id"),
    pb.key_prefix("gen_ai.request.model"), pb.key_prefix("gen_ai.provider.name"),
    pb.key_prefix("gen_ai.response.model"), pb.key_prefix("error.type"), pb.key_prefix("ferrogate.error_source"),
    pb.key_prefix("ferrogate.cache"),
)


def _text(key: bytes, value: str) -> bytes:
    return pb.str_attribute(_ATTRIBUTE, key, value)


def _number(key: bytes, value: int) -> bytes:
    return pb.int_attribute(_ATTRIBUTE, key, value)


def _shared(record: RequestRecord) -> bytes:
    """Severity, body, event name and the attributes a record shares with other requests of
    the same model, key and outcome."""
    operation, path = OPERATIONS.get(record.endpoint, (record.endpoint, ""))
    parts = [
        _SEVERITY[severity(record)],
        _BODY,
        _EVENT_NAME,
        _text(K_OPERATION, operation),
        _text(K_PATH, path),
        _number(K_STATUS, record.status),
        _number(K_ATTEMPTS, record.attempts),
        pb.bool_attribute(_ATTRIBUTE, K_STREAM, record.stream),
        pb.bool_attribute(_ATTRIBUTE, K_CACHE_HIT, record.cache_hit),
    ]
    optional = (record.key_id, record.tenant, record.profile_id, record.model, record.provider,
            record.provider_model, record.error_code, record.error_source, record.cache)
    for key, value in zip(_OPTIONAL, optional, strict=True):
        if value is not None:
            parts.append(_text(key, value))
    if record.usage_source is not None:
        parts.append(_text(K_USAGE_SOURCE, record.usage_source))
    return b"".join(parts)


def millis(value: float) -> float:
    """A duration in milliseconds to the microsecond (half to even, as ``_otlp_fields`` rounds)."""
    return round(value * 1000.0) / 1000.0


# The attributes only one record has, in the order they are written.
_OWN_KEYS: Final[tuple[bytes, ...]] = (K_REQUEST_ID, K_EVENT_ID, K_DURATION, K_OVERHEAD, K_COST, K_TTFT, K_INPUT_TOKENS, K_OUTPUT_TOKENS,
                    K_CACHED_TOKENS, K_REASONING_TOKENS, K_SAVED_COST)


def _own(record: RequestRecord) -> bytes:
    """The attributes only this record has: ids, timings, cost and token counts."""
    ttft = record.ttft_ms
    usage = record.usage_source is not None
    return pb.key_values(_ATTRIBUTE, _OWN_KEYS, (
        record.request_id, record.event_id, millis(record.duration_ms), millis(record.overhead_ms),
        usd(record.cost_pico), None if ttft is None else millis(ttft),
        record.input_tokens if usage else None, record.output_tokens if usage else None,
        record.cached_tokens if usage else None, record.reasoning_tokens if usage else None,
        usd(record.saved_cost_pico) if record.saved_cost_pico else None,
    ))


def severity(record: RequestRecord) -> int:
    """ERROR for a gateway or upstream failure (5xx, no answer), WARN for a refused request, else INFO."""
    if record.status >= 500 or record.status == 0:
        return ERROR
    if record.status >= 400:
        return WARN
    return INFO


# Where each field ``_otlp_fields.log_record`` reads sits in a record's tuple (None: the
# operation and path, passed apart).
_LOG_FIELDS: Final[tuple[str | None, ...]] = (
    "at", "duration_ms", "status", None, None, "attempts", "stream", "cache_hit", "key_id", "tenant", "profile_id",
    "model", "provider", "provider_model", "error_code", "error_source", "cache", "usage_source", "request_id",
    "event_id", "overhead_ms", "cost_pico", "ttft_ms", "input_tokens", "output_tokens", "cached_tokens",
    "reasoning_tokens", "saved_cost_pico", "trace_id", "span_id", "trace_sampled",
)
LOG_INDEX: Final = tuple(-1 if name is None else RECORD_FIELDS.index(name) for name in _LOG_FIELDS)


def native_log(record: RequestRecord, observed_ns: int) -> bytes | None:
    """The C writer's log record; None when it is not built or leaves this record to Python."""
    if native is None:
        return None
    operation, path = OPERATIONS.get(record.endpoint, (record.endpoint, ""))
    return native.log_record(astuple(record), LOG_INDEX, operation, path, observed_ns)


def log_message(record: RequestRecord, observed_ns: int, memo: pb.Memo) -> bytes:
    """The record's ``LogRecord`` message body: timed at the request's end, observed at
    ``observed_ns``, in the request's trace when it has one. The attributes are the record's
    fields that are safe to ship, under GenAI / HTTP convention names where they exist; cost
    as an exact decimal string of USD. Written in one C pass when ``_otlp_fields`` is built
    and the record's values are ones it writes (else by :func:`log_message_py`)."""
    out = native_log(record, observed_ns)
    return out if out is not None else log_message_py(record, observed_ns, memo)


def log_message_py(record: RequestRecord, observed_ns: int, memo: pb.Memo) -> bytes:
    """:func:`log_message` in Python; ``memo`` keeps the parts records share."""
    key = (record.endpoint, record.status, record.attempts, record.stream, record.cache_hit, record.key_id,
           record.tenant, record.profile_id, record.model, record.provider, record.provider_model,
           record.error_code, record.error_source, record.cache, record.usage_source)
    shared = memo.get(key)
    if shared is None:
        shared = memo.put(key, _shared(record))
    parts = [_TIME, pb.fixed64(int((record.at + record.duration_ms / 1000.0) * 1e9)), shared, _own(record)]
    if record.trace_id is not None and record.span_id is not None:
        if record.trace_sampled:  # the trace flags: an unsampled trace's are 0, the default
            parts.append(_SAMPLED)
        parts += (
            pb.message_field(_TRACE_ID, bytes.fromhex(record.trace_id)),
            pb.message_field(_SPAN_ID, bytes.fromhex(record.span_id)),
        )
    parts += (_OBSERVED_TIME, pb.fixed64(observed_ns))
    return b"".join(parts)
