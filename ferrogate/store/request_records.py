"""Request logs, metering events, usage aggregates and the metering export's place, in the store.

One write is one transaction: the request log gets the batch as one row, the
metering events get the batch's records that used tokens (or were served from the
cache) as one row (``store.record_batches`` says why rows hold batches), and the
hourly and daily usage rows take the batch's sums (summed by the workers, so 4,000
requests of one key and model are one upsert per granularity). When every record of
the batch bills, the log row shares the event row's blob instead of a copy. The rows are stored as
the workers encoded them (``ipc.record_summary``). Retention keeps the
newest ``storage.request_log_retention_records`` log records and
``storage.billing_event_retention_records`` metering events.

The metering export's outbox is the metering events themselves: ``metering_export``
holds the id of the last event the receiver took, every later one is still to send,
and retention never deletes one that is (an outage loses nothing, and an event costs
no second write). Turning the export on starts it at the newest event; turning it
off forgets its place.

Blocking calls: the control process runs these on its records thread, never on its loop.
"""

from __future__ import annotations

import sqlite3

import msgspec

from ferrogate.ipc.record_summary import RecordBlob, encode_blob
from ferrogate.ipc.request_records import RequestRecord, usd
from ferrogate.ipc.usage_sums import DAY, HOUR, UsageRow, bills, usage_rows
from ferrogate.store.record_batches import ID_SPAN, BatchLog
from ferrogate.store.record_views import MeteringEvent, UsageAggregate, metering_event, rfc3339

GRANULARITIES = {"hour": HOUR, "day": DAY}
_EVENT_JSON = msgspec.json.Encoder()


class RecordFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What a list asks for; every field set narrows it."""

    key_id: str | None = None
    tenant: str | None = None
    model: str | None = None
    provider: str | None = None
    status: int | None = None  # 200, or a class: 2, 4, 5 for 2xx, 4xx, 5xx
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive

    def matches(self, r: RequestRecord) -> bool:
        """Whether ``r`` passes every field but the time range (the batch log checks that)."""
        if self.key_id is not None and r.key_id != self.key_id:
            return False
        if self.tenant is not None and r.tenant != self.tenant:
            return False
        if self.model is not None and r.model != self.model:
            return False
        if self.provider is not None and r.provider != self.provider:
            return False
        status = self.status
        if status is not None:
            return r.status // 100 == status if status < 10 else r.status == status
        return True

    def where(self, at_column: str) -> tuple[str, list[object]]:
        """The SQL of the filter for usage rows (no status there)."""
        clauses: list[str] = []
        args: list[object] = []
        for column in ("key_id", "tenant", "model", "provider"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.since is not None:
            clauses.append(f"{at_column} >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append(f"{at_column} < ?")
            args.append(self.until)
        return (" AND ".join(clauses) if clauses else "1"), args


class RecordStore:
    __slots__ = ("conn", "events", "export", "keep_events", "keep_logs", "logs")

    def __init__(self, conn: sqlite3.Connection, *, keep_logs: int, keep_events: int, export: bool) -> None:
        self.conn = conn
        self.logs = BatchLog(conn, "request_logs", shares_from="metering_events")
        self.events = BatchLog(conn, "metering_events")
        self.keep_logs = keep_logs
        self.keep_events = keep_events
        self.export = export  # keep the metering events the export has not sent
        self._place_export()

    # -- writing

    def write(self, records: list[RequestRecord]) -> int:
        """Store records in one transaction (what a worker's batch holds, encoded here)."""
        billed = [r for r in records if bills(msgspec.structs.astuple(r))]
        if len(billed) == len(records):
            return self.write_batch(encode_blob(records), None, usage_rows(records))
        return self.write_batch(encode_blob(records), encode_blob(billed), usage_rows(records))

    def write_batch(self, logs: RecordBlob, events: RecordBlob | None, usage: list[UsageRow]) -> int:
        """Store one batch in one transaction; the number of metering events it made.
        ``events`` None: every log record bills, and the log row shares the event row's blob."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if events is None:
                events = logs
                self.logs.append(logs, self.events.append(events))
            else:
                self.events.append(events)
                self.logs.append(logs)
            conn.executemany(
                "INSERT INTO usage_aggregates VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (granularity, bucket, key_id, tenant, model, provider) DO UPDATE SET"
                " requests = requests + excluded.requests, errors = errors + excluded.errors,"
                " input_tokens = input_tokens + excluded.input_tokens,"
                " output_tokens = output_tokens + excluded.output_tokens,"
                " cached_tokens = cached_tokens + excluded.cached_tokens,"
                " reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,"
                " cost_pico = cost_pico + excluded.cost_pico, cache_hits = cache_hits + excluded.cache_hits,"
                " saved_cost_pico = saved_cost_pico + excluded.saved_cost_pico",
                usage,
            )
            self.logs.prune(self.keep_logs)
            if events.count:
                self.events.prune(self.keep_events, self._event_floor())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self.logs.recount()
            self.events.recount()
            raise
        return events.count

    # -- reading (newest first; ``before`` is the cursor: the last id of the previous page)

    def request_logs(self, f: RecordFilter, before: int | None, limit: int) -> list[tuple[int, RequestRecord]]:
        return self.logs.newest(f.matches, f.since, f.until, before, limit, self.keep_logs)

    def metering_events(self, f: RecordFilter, before: int | None, limit: int) -> list[tuple[int, RequestRecord]]:
        return self.events.newest(f.matches, f.since, f.until, before, limit, self.keep_events)

    def usage(self, granularity: str, f: RecordFilter, offset: int, limit: int) -> list[UsageAggregate]:
        """Usage rows of one granularity, newest bucket first (``offset``: rows to skip)."""
        where, args = f.where(at_column="bucket")
        rows = self.conn.execute(
            f"SELECT * FROM usage_aggregates WHERE granularity = ? AND {where}"
            " ORDER BY bucket DESC, key_id, tenant, model, provider LIMIT ? OFFSET ?",
            (granularity, *args, limit, offset),
        ).fetchall()
        return [_usage_row(row) for row in rows]

    # -- the metering export's outbox (the events after its place)

    def _event_floor(self) -> int | None:
        """The id after which no metering event may be deleted yet: the export has not sent it,
        or a request-log row still takes its records from its batch."""
        floor = self._exported() if self.export else None
        shared = self.logs.oldest_shared()
        if shared is not None:
            held = shared * ID_SPAN
            floor = held if floor is None else min(floor, held)
        return floor

    def _exported(self) -> int:
        row = self.conn.execute("SELECT last_id FROM metering_export WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def _place_export(self) -> None:
        """Start the export at the newest event when it is new; forget its place when it is off."""
        if not self.export:
            self.conn.execute("DELETE FROM metering_export")
            return
        self.conn.execute("INSERT OR IGNORE INTO metering_export (id, last_id) VALUES (1, ?)", (self.events.newest_id(),))

    def outbox(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` events not yet taken by the receiver, as the export sends them."""
        return [(ident, _EVENT_JSON.encode(metering_event(r))) for ident, r in self.events.after(self._exported(), limit)]

    def outbox_done(self, last_id: int) -> None:
        """The receiver took every event up to ``last_id``."""
        self.conn.execute("UPDATE metering_export SET last_id = max(last_id, ?) WHERE id = 1", (last_id,))

    def outbox_size(self) -> int:
        return self.events.count_after(self._exported())


def decode_event(body: bytes) -> MeteringEvent:
    return msgspec.json.decode(body, type=MeteringEvent)


def _usage_row(row: tuple[object, ...]) -> UsageAggregate:
    granularity, bucket, key_id, tenant, model, provider, *n = row
    counts = [int(v) for v in n]  # type: ignore[call-overload]
    return UsageAggregate(
        granularity=str(granularity),
        bucket_start=rfc3339(float(bucket)),  # type: ignore[arg-type]
        key_id=str(key_id) or None,
        tenant=str(tenant) or None,
        model=str(model) or None,
        provider=str(provider) or None,
        requests=counts[0],
        errors=counts[1],
        input_tokens=counts[2],
        output_tokens=counts[3],
        cached_tokens=counts[4],
        reasoning_tokens=counts[5],
        cost_usd=usd(counts[6]),
        cache_hits=counts[7],
        saved_cost_usd=usd(counts[8]),
    )
