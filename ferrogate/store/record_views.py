"""How request records look outside the gateway: admin API rows and exported metering events.

Named objects (not the positional wire form), times as RFC 3339 UTC, money as
exact decimal strings of USD. The admin API's OpenAPI document is generated from
these types, and the metering export sends :class:`MeteringEvent` as is.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from ferrogate.ipc.request_records import AttemptRecord, RequestRecord, usd


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AttemptView(msgspec.Struct, frozen=True, kw_only=True):
    provider: str
    provider_model: str
    start_ms: float
    duration_ms: float
    status: int
    error_kind: str | None = None


class RequestLogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One request as the request log shows it."""

    id: int  # the log's sequence number (newest first in lists)
    event_id: str
    at: str
    request_id: str
    trace_id: str | None
    key_id: str | None
    tenant: str | None
    profile_id: str | None
    profile_revision: int | None
    endpoint: str
    model: str | None
    provider: str | None
    provider_model: str | None
    attempts: int
    status: int
    error_code: str | None
    error_source: str | None
    stream: bool
    cache: str | None
    cache_hit: bool
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    usage_source: str | None
    cost_usd: str
    saved_cost_usd: str
    duration_ms: float
    ttft_ms: float | None
    overhead_ms: float
    attempt_log: list[AttemptView]
    node_id: str | None = None  # the node that served it


class MeteringEvent(msgspec.Struct, frozen=True, kw_only=True):
    """What one request used and cost: kept in the store and sent by the metering export.

    ``event_id`` is unique per request: a receiver deduplicates retried deliveries by it.
    """

    event_id: str
    occurred_at: str
    request_id: str
    key_id: str | None
    tenant: str | None
    endpoint: str
    model: str | None
    provider: str | None
    provider_model: str | None
    status: int
    stream: bool
    cache_hit: bool
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    usage_source: str | None
    cost_usd: str
    saved_cost_usd: str
    node_id: str | None = None  # the node that served it


class UsageAggregate(msgspec.Struct, frozen=True, kw_only=True):
    """Usage of one key, tenant, model and provider over one hour or day (UTC)."""

    granularity: str
    bucket_start: str
    key_id: str | None
    tenant: str | None
    model: str | None
    provider: str | None
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: str
    cache_hits: int
    saved_cost_usd: str


def _attempt(a: AttemptRecord) -> AttemptView:
    return AttemptView(
        provider=a.provider,
        provider_model=a.provider_model,
        start_ms=round(a.start_ms, 3),
        duration_ms=round(a.duration_ms, 3),
        status=a.status,
        error_kind=a.error_kind,
    )


def log_entry(seq: int, r: RequestRecord) -> RequestLogEntry:
    return RequestLogEntry(
        id=seq,
        event_id=r.event_id,
        at=rfc3339(r.at),
        request_id=r.request_id,
        trace_id=r.trace_id,
        key_id=r.key_id,
        tenant=r.tenant,
        profile_id=r.profile_id,
        profile_revision=r.profile_revision,
        endpoint=r.endpoint,
        model=r.model,
        provider=r.provider,
        provider_model=r.provider_model,
        attempts=r.attempts,
        status=r.status,
        error_code=r.error_code,
        error_source=r.error_source,
        stream=r.stream,
        cache=r.cache,
        cache_hit=r.cache_hit,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        cached_tokens=r.cached_tokens,
        reasoning_tokens=r.reasoning_tokens,
        usage_source=r.usage_source,
        cost_usd=usd(r.cost_pico),
        saved_cost_usd=usd(r.saved_cost_pico),
        duration_ms=round(r.duration_ms, 3),
        ttft_ms=None if r.ttft_ms is None else round(r.ttft_ms, 3),
        overhead_ms=round(r.overhead_ms, 3),
        attempt_log=[_attempt(a) for a in r.attempt_log],
        node_id=r.node_id,
    )


def metering_event(r: RequestRecord) -> MeteringEvent:
    return MeteringEvent(
        event_id=r.event_id,
        occurred_at=rfc3339(r.at),
        request_id=r.request_id,
        key_id=r.key_id,
        tenant=r.tenant,
        endpoint=r.endpoint,
        model=r.model,
        provider=r.provider,
        provider_model=r.provider_model,
        status=r.status,
        stream=r.stream,
        cache_hit=r.cache_hit,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        cached_tokens=r.cached_tokens,
        reasoning_tokens=r.reasoning_tokens,
        usage_source=r.usage_source,
        cost_usd=usd(r.cost_pico),
        saved_cost_usd=usd(r.saved_cost_pico),
        node_id=r.node_id,
    )
