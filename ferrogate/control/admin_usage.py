"""What the request records feed, over the admin API, and ``GET /metrics``.

``/admin/v1/request-logs``, ``/admin/v1/metering-events`` (and its older name
``billing-events``) and ``/admin/v1/usage-aggregates``: newest first, filtered by
``key_id``, ``tenant``, ``model``, ``provider``, ``status`` (``200``, or a class:
``2xx``/``4xx``/``5xx``) and a time range (``since`` / ``until``: RFC 3339 or epoch
seconds), paginated with ``limit`` and the ``next_cursor`` of the previous page.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ferrogate.config.model import Config
from ferrogate.control.admin_objects import _int, _limit, _params
from ferrogate.control.record_sink import RecordSink
from ferrogate.errors import GatewayError
from ferrogate.store.record_views import log_entry, metering_event
from ferrogate.store.request_records import GRANULARITIES, RecordFilter

Headers = list[tuple[bytes, bytes]]
AdminResponse = tuple[int, Headers, bytes]
Endpoint = Callable[[bytes, bytes], Awaitable[AdminResponse]]

_JSON: Headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
_encode = msgspec.json.Encoder().encode


class UsageApi:
    __slots__ = ("_config", "_registry", "sink")

    def __init__(self, sink: RecordSink, config: Callable[[], Config]) -> None:
        self.sink = sink
        self._config = config
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(sink.metrics)

    def routes(self) -> dict[str, dict[str, Endpoint]]:
        return {
            "/admin/v1/request-logs": {"GET": self._request_logs},
            "/admin/v1/metering-events": {"GET": self._metering_events},
            "/admin/v1/billing-events": {"GET": self._metering_events},
            "/admin/v1/usage-aggregates": {"GET": self._usage},
            "/metrics": {"GET": self._metrics},
        }

    async def _metrics(self, query: bytes, body: bytes) -> AdminResponse:
        text = generate_latest(self._registry)
        return 200, [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"cache-control", b"no-store")], text

    async def _request_logs(self, query: bytes, body: bytes) -> AdminResponse:
        params = _params(query)
        limit = _limit(params, self._config())
        f = filter_of(params)
        before = _before(params)
        store = self.sink.store
        rows = await self.sink.run(lambda: store.request_logs(f, before, limit))
        data = [log_entry(seq, r) for seq, r in rows]
        return _page(data, rows[-1][0] if len(rows) == limit else None)

    async def _metering_events(self, query: bytes, body: bytes) -> AdminResponse:
        params = _params(query)
        limit = _limit(params, self._config())
        f = filter_of(params)
        before = _before(params)
        store = self.sink.store
        rows = await self.sink.run(lambda: store.metering_events(f, before, limit))
        data = [metering_event(r) for _, r in rows]
        return _page(data, rows[-1][0] if len(rows) == limit else None)

    async def _usage(self, query: bytes, body: bytes) -> AdminResponse:
        params = _params(query)
        limit = _limit(params, self._config())
        granularity = params.get("granularity", "hour")
        if granularity not in GRANULARITIES:
            raise GatewayError(400, "granularity is hour or day", code="invalid_request", param="granularity")
        if "status" in params:
            raise GatewayError(400, "usage aggregates have no status filter", code="invalid_request", param="status")
        f = filter_of(params)
        offset = _before(params) or 0
        store = self.sink.store
        rows = await self.sink.run(lambda: store.usage(granularity, f, offset, limit))
        return _page(rows, offset + limit if len(rows) == limit else None)


def filter_of(params: dict[str, str]) -> RecordFilter:
    status: int | None = None
    raw = params.get("status")
    if raw is not None:
        low = raw.lower()
        if len(low) == 3 and low[0] in "12345" and low[1:] == "xx":
            status = int(low[0])
        elif low.isdigit() and len(low) == 3 and 100 <= int(low) <= 599:
            status = int(low)
        else:
            raise GatewayError(400, "status is a code (429) or a class (4xx)", code="invalid_request", param="status")
    return RecordFilter(
        key_id=params.get("key_id") or None,
        tenant=params.get("tenant") or None,
        model=params.get("model") or None,
        provider=params.get("provider") or None,
        status=status,
        since=_time(params, "since"),
        until=_time(params, "until"),
    )


def _time(params: dict[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if raw.replace(".", "", 1).isdigit():
            return float(raw)
        at = datetime.fromisoformat(raw)
        return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        raise GatewayError(
            400, f"{name} is a time: RFC 3339 (2026-12-05T10:00:00Z) or epoch seconds", code="invalid_request", param=name
        ) from None


def _before(params: dict[str, str]) -> int | None:
    raw = params.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        decoded = raw
    return _int(decoded, "cursor")


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def _page(data: Sequence[msgspec.Struct], position: int | None) -> AdminResponse:
    next_cursor = None if position is None else _cursor(position)
    return 200, list(_JSON), _encode({"object": "list", "data": data, "next_cursor": next_cursor})
