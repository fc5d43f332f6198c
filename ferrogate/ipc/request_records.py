"""The one record of a finished AI request, and what crosses IPC with it.

The account phase builds a :class:`RequestRecord` per request; the worker hands
them to the control process in batches (:class:`RecordBatch`), where they feed
the request log, metering events, usage aggregates, the Prometheus metrics and
the OTLP spans. Everything downstream reads this one type, so a field added here
is a field every consumer can use.

Structs are ``array_like`` (positional on the wire: a batch of 500 records is
about 100 KB, not 300) and frozen. Money is exact: pico-USD (10^-12 USD) as
integers, rendered as decimal strings only at the edges.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

PICO_PER_USD = 10**12


class AttemptRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One try of one upstream target: what the OTLP exporter makes a child span of."""

    provider: str
    provider_model: str
    start_ms: float  # after the request's ``at``
    duration_ms: float
    status: int  # the upstream's HTTP status; 0 when no answer came (connect error, timeout)
    error_kind: str | None = None  # the taxonomy kind of a failed attempt
    span_id: str | None = None  # hex, sent upstream in ``traceparent`` when tracing is on


class RequestRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Everything the gateway knows about one finished AI request."""

    event_id: str  # unique across workers and restarts: the metering export's idempotency key
    at: float  # wall clock (epoch seconds) when the gateway took the request
    request_id: str
    endpoint: str
    status: int
    duration_ms: float
    overhead_ms: float  # time in the gateway, upstream waits excluded
    ttft_ms: float | None = None  # first byte of the answer to the client
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None  # from the caller's traceparent
    key_id: str | None = None
    tenant: str | None = None
    profile_id: str | None = None
    profile_revision: int | None = None
    model: str | None = None
    provider: str | None = None
    provider_model: str | None = None
    attempts: int = 0
    error_code: str | None = None
    error_source: str | None = None  # client, upstream, internal
    stream: bool = False
    cache_hit: bool = False
    cache: str | None = None  # the answer cache's verdict: hit, miss, bypass; None: not looked up
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    usage_source: str | None = None  # provider, estimated; None: no usage (nothing reached a provider)
    cost_pico: int = 0
    saved_cost_pico: int = 0  # a cache hit: what the provider would have been paid
    attempt_log: tuple[AttemptRecord, ...] = ()  # a tuple of untracked structs: the collector skips it
    node_id: str | None = None  # the node that served it (cluster.node_id); after the others, so older records decode
    trace_sampled: bool = True  # the trace sampler's decision: its spans are exported (OTEL_TRACES_SAMPLER)


RECORD_FIELDS: tuple[str, ...] = RequestRecord.__struct_fields__  # the order of msgspec.structs.astuple(record)
# A record's fields in RECORD_FIELDS order (its attempts AttemptRecords): what
# a worker builds (pipeline.record) and sums (an index costs a tenth of a compiled module's
# attribute load), and encodes as the same msgpack array as the RequestRecord the control
# process decodes.
RecordFields = tuple[Any, ...]


def usd(pico: int) -> str:
    """pico-USD as an exact decimal string of dollars ("0.000123")."""
    if pico < 0:
        return format((Decimal(pico) / PICO_PER_USD).normalize(), "f")
    dollars, fraction = divmod(pico, PICO_PER_USD)
    if not fraction:
        return str(dollars)
    return f"{dollars}.{fraction:012d}".rstrip("0")  # integers only: exact, and 4x faster than Decimal
