"""The record store: one batch per transaction, retention, usage sums, and the metering export's
place (the outbox is every metering event after it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from ferrogate.ipc.request_records import RequestRecord
from ferrogate.store.database import open_store
from ferrogate.store.request_records import RecordFilter, RecordStore

HOUR_START = 1_764_900_000 - 1_764_900_000 % 3600  # a whole UTC hour


def record(n: int, *, at: float = HOUR_START + 10, key: str = "k", status: int = 200, **fields: object) -> RequestRecord:
    used = fields.pop("used", True)
    base: dict[str, object] = {
        "input_tokens": 10 if used else 0,
        "output_tokens": 5 if used else 0,
        "usage_source": "provider" if used else None,
        "cost_pico": 1000 if used else 0,
    }
    return RequestRecord(
        event_id=f"evt_{n}", at=at, request_id=f"req_{n}", endpoint="chat", status=status, duration_ms=2.0,
        overhead_ms=0.1, key_id=key, model="m", provider="p", **{**base, **fields},  # type: ignore[arg-type]
    )


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_store(str(tmp_path / "state.db"))
    yield c
    c.close()


def store(conn: sqlite3.Connection, *, logs: int = 100, events: int = 100, export: bool = False) -> RecordStore:
    return RecordStore(conn, keep_logs=logs, keep_events=events, export=export)


def test_a_batch_is_logged_newest_first_and_read_back_whole(conn: sqlite3.Connection) -> None:
    s = store(conn)
    s.write([record(1), record(2)])
    rows = s.request_logs(RecordFilter(), None, 10)
    assert [r.event_id for _, r in rows] == ["evt_2", "evt_1"]
    assert rows[1][1] == record(1)


def test_only_requests_that_used_tokens_make_metering_events(conn: sqlite3.Connection) -> None:
    s = store(conn)
    assert s.write([record(1), record(2, status=401, used=False)]) == 1
    assert [r.event_id for _, r in s.metering_events(RecordFilter(), None, 10)] == ["evt_1"]


def test_filters_by_key_and_status_class(conn: sqlite3.Connection) -> None:
    s = store(conn)
    s.write([record(1, key="a"), record(2, key="b", status=429, used=False), record(3, key="b")])
    assert [r.event_id for _, r in s.request_logs(RecordFilter(key_id="b"), None, 10)] == ["evt_3", "evt_2"]
    assert [r.event_id for _, r in s.request_logs(RecordFilter(status=4), None, 10)] == ["evt_2"]
    assert [r.event_id for _, r in s.request_logs(RecordFilter(status=200, key_id="a"), None, 10)] == ["evt_1"]


def test_a_page_starts_before_the_cursor(conn: sqlite3.Connection) -> None:
    s = store(conn)
    s.write([record(n) for n in range(5)])
    first = s.request_logs(RecordFilter(), None, 2)
    second = s.request_logs(RecordFilter(), first[-1][0], 2)
    assert [r.event_id for _, r in first + second] == ["evt_4", "evt_3", "evt_2", "evt_1"]


def test_the_log_keeps_its_retention_newest(conn: sqlite3.Connection) -> None:
    s = store(conn, logs=3)
    for n in range(5):
        s.write([record(n)])
    assert [r.event_id for _, r in s.request_logs(RecordFilter(), None, 10)] == ["evt_4", "evt_3", "evt_2"]


def test_usage_adds_up_per_hour_and_day_across_batches(conn: sqlite3.Connection) -> None:
    s = store(conn)
    s.write([record(1), record(2, at=HOUR_START + 3700)])
    s.write([record(3), record(4, status=502, used=True)])
    hours = s.usage("hour", RecordFilter(), 0, 10)
    days = s.usage("day", RecordFilter(), 0, 10)
    assert sorted(h.requests for h in hours) == [1, 3]
    assert sum(d.requests for d in days) == 4 and sum(d.errors for d in days) == 1
    assert sum(d.input_tokens for d in days) == 40
    assert {d.cost_usd for d in days} == {"0.000000004"}


def test_the_export_starts_at_the_newest_event_when_turned_on(conn: sqlite3.Connection) -> None:
    store(conn).write([record(1)])
    s = store(conn, export=True)
    assert s.outbox_size() == 0
    s.write([record(2), record(3)])
    sent = s.outbox(10)
    assert [msgspec.json.decode(body)["event_id"] for _, body in sent] == ["evt_2", "evt_3"]


def test_an_acknowledged_event_leaves_the_outbox_and_its_place_survives_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    s = RecordStore(open_store(path), keep_logs=10, keep_events=10, export=True)
    s.write([record(1), record(2)])
    s.outbox_done(s.outbox(1)[0][0])
    s.conn.close()
    again = RecordStore(open_store(path), keep_logs=10, keep_events=10, export=True)
    assert [msgspec.json.decode(body)["event_id"] for _, body in again.outbox(10)] == ["evt_2"]
    again.conn.close()


def test_retention_never_deletes_an_event_not_exported_yet(conn: sqlite3.Connection) -> None:
    s = store(conn, events=2, export=True)
    for n in range(5):
        s.write([record(n)])
    assert s.outbox_size() == 5
    s.outbox_done(s.outbox(10)[-1][0])
    s.write([record(5)])
    assert [r.event_id for _, r in s.metering_events(RecordFilter(), None, 10)] == ["evt_5", "evt_4"]


def test_an_exported_event_body_carries_exact_usd(conn: sqlite3.Connection) -> None:
    s = store(conn, export=True)
    s.write([record(1, cost_pico=123_456_789)])
    event = msgspec.json.decode(s.outbox(1)[0][1])
    assert (event["cost_usd"], event["input_tokens"], event["key_id"]) == ("0.000123456789", 10, "k")
