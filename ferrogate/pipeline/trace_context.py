"""W3C trace context: continue the caller's ``traceparent``, and pass it on upstream.

Only when tracing is on (``telemetry.otlp_endpoint``): the worker makes the ids and
decides whether the trace is sampled (``OTEL_TRACES_SAMPLER``), and puts both in the
request's record; the control process emits the spans of sampled requests later from
the records, so the OpenTelemetry SDK never runs on a worker's event loop. The decision
travels upstream as the ``traceparent``'s sampled flag, so the provider's side of the
trace agrees. Ids are lowercase hex: 32 digits for a trace, 16 for a span.
"""

from __future__ import annotations

import random

import msgspec

from ferrogate._fastpath.forwarding import parse_traceparent
from ferrogate.ai.providers.base import UpstreamCall
from ferrogate.config.otel_env import TRACE_ID_LOW_BITS, TraceSampler

_TRACE_HEADERS = (b"traceparent", b"tracestate")
_TRACE_LINE = b"\r\ntrace"  # a traceparent or tracestate line in a serialized head (names lowercase)


def continue_trace(header: bytes | None, rng: random.Random, sampler: TraceSampler) -> tuple[str, str | None, bool]:
    """(trace id, caller's span id, sampled): the caller's trace when its header is valid
    (``forwarding.parse_traceparent``, the reverse proxy's reader too), else a new one;
    ``sampler`` decides (from the caller's sampled flag, when it goes by it)."""
    parsed = parse_traceparent(header) if header is not None else None
    if parsed is not None:
        trace, parent, flags = parsed
        return trace.decode(), parent.decode(), sampler.sampled(int(trace[16:], 16), bool(int(flags, 16) & 1))
    new = rng.getrandbits(128)
    return new.to_bytes(16, "big").hex(), None, sampler.sampled(new & TRACE_ID_LOW_BITS, None)


def new_span_id(rng: random.Random) -> str:
    # to_bytes().hex() costs half what an f-string's int formatting does
    return (rng.getrandbits(64) or 1).to_bytes(8, "big").hex()


def with_traceparent(call: UpstreamCall, trace_id: str, span_id: str, sampled: bool) -> UpstreamCall:
    """``call`` carrying the attempt's span as the upstream's parent, with the sampling
    decision as its flag (any traceparent the adapter copied is replaced). A head
    serialized once per model (which never holds a client's trace headers) gets the header
    line added, so tracing keeps that fast path; any other head is dropped for the pool to
    serialize the new header list."""
    value = ("00-" + trace_id + "-" + span_id + ("-01" if sampled else "-00")).encode()
    head = call.head
    if head and head.endswith(b"\r\n") and _TRACE_LINE not in head:
        # The head was serialized from these headers, so they hold no trace header either.
        return msgspec.structs.replace(
            call, headers=[*call.headers, (b"traceparent", value)], head=head + b"traceparent: " + value + b"\r\n"
        )
    headers = [(k, v) for k, v in call.headers if k.lower() not in _TRACE_HEADERS]
    headers.append((b"traceparent", value))
    return msgspec.structs.replace(call, headers=headers, head=b"")
