"""The record store: one batch per transaction, retention, usage sums, and the metering export's
place (the outbox is every metering event after it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from ferrogate.ipc.record_summary import encode_blob
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.store.database import MIGRATIONS, migrate, open_store
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


def test_a_batch_that_all_bills_is_stored_once_and_the_log_reads_it_from_the_event_row(conn: sqlite3.Connection) -> None:
    s = store(conn)
    s.write([record(1), record(2)])
    (blob, events_seq), = conn.execute("SELECT records, events_seq FROM request_logs").fetchall()
    (event_seq,), = conn.execute("SELECT seq FROM metering_events").fetchall()
    assert blob == b"" and events_seq == event_seq
    assert [r for _, r in s.request_logs(RecordFilter(), None, 10)] == [record(2), record(1)]


def test_a_batch_with_records_that_do_not_bill_keeps_its_own_log_blob(conn: sqlite3.Connection) -> None:
    s = store(conn)
    s.write([record(1), record(2, status=401, used=False)])
    (blob, events_seq), = conn.execute("SELECT records, events_seq FROM request_logs").fetchall()
    assert blob != b"" and events_seq is None
    assert [r.event_id for _, r in s.request_logs(RecordFilter(), None, 10)] == ["evt_2", "evt_1"]


def test_an_event_batch_a_kept_log_batch_reads_from_outlives_the_event_retention(conn: sqlite3.Connection) -> None:
    s = store(conn, logs=6, events=2)
    for n in range(0, 6, 2):
        s.write([record(n), record(n + 1)])
    # The events keep only the newest 2, yet every log batch can still be read whole.
    assert [r.event_id for _, r in s.metering_events(RecordFilter(), None, 10)] == ["evt_5", "evt_4"]
    assert [r.event_id for _, r in s.request_logs(RecordFilter(), None, 10)] == [f"evt_{n}" for n in range(5, -1, -1)]


def test_an_event_batch_is_deleted_once_no_kept_log_batch_reads_from_it(conn: sqlite3.Connection) -> None:
    s = store(conn, logs=2, events=2)
    for n in range(0, 8, 2):
        s.write([record(n), record(n + 1)])
    assert conn.execute("SELECT count(*) FROM metering_events").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM request_logs").fetchone()[0] == 1
    assert [r.event_id for _, r in s.request_logs(RecordFilter(), None, 10)] == ["evt_7", "evt_6"]


def test_the_export_outbox_reads_events_whose_batch_a_log_row_shares(conn: sqlite3.Connection) -> None:
    s = store(conn, export=True)
    s.write([record(1), record(2)])
    assert [msgspec.json.decode(body)["event_id"] for _, body in s.outbox(10)] == ["evt_1", "evt_2"]


def test_a_new_store_uses_16_kib_pages_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA page_size=4096")
        raw.execute("CREATE TABLE t (x)")
    old = open_store(str(path))
    new = open_store(str(tmp_path / "new.db"))
    try:
        assert old.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert new.execute("PRAGMA page_size").fetchone()[0] == 16384
    finally:
        old.close()
        new.close()


def test_log_rows_written_before_the_shared_blobs_read_back_after_the_migration(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    with sqlite3.connect(path) as raw:  # a store as version 4 left it, holding one log batch
        raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for number, script in enumerate(MIGRATIONS[:4], start=1):
            raw.executescript(script)
            raw.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        blob = encode_blob([record(1)])
        raw.execute("INSERT INTO request_logs (first_at, last_at, count, records) VALUES (?,?,?,?)",
                    (blob.first_at, blob.last_at, blob.count, blob.data))
    c = open_store(path)
    try:
        assert migrate(c) == len(MIGRATIONS)
        s = store(c)
        s.write([record(2)])
        assert [r.event_id for _, r in s.request_logs(RecordFilter(), None, 10)] == ["evt_2", "evt_1"]
    finally:
        c.close()
