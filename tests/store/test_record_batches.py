"""Retention of the batch tables: the newest ``keep`` records stay, found by reading only the
oldest batches (a quiet gateway's table holds up to a million one-record batches)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrogate.ipc.record_summary import RecordBlob
from ferrogate.store.database import open_store
from ferrogate.store.record_batches import ID_SPAN, BatchLog


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_store(str(tmp_path / "state.db"))
    yield c
    c.close()


def _append(log: BatchLog, *counts: int) -> None:
    for count in counts:
        log.append(RecordBlob(count, 1.0, 2.0, b"\x90"))


def _counts(conn: sqlite3.Connection) -> list[int]:
    return [int(c) for (c,) in conn.execute("SELECT count FROM request_logs ORDER BY seq")]


def test_whole_batches_older_than_the_newest_keep_records_are_deleted(conn: sqlite3.Connection) -> None:
    log = BatchLog(conn, "request_logs")
    _append(log, 3, 3, 3, 3)
    log.prune(7)
    assert _counts(conn) == [3, 3, 3]  # 9 kept: dropping one more batch would leave 6 < 7


def test_a_batch_is_kept_when_deleting_it_would_leave_fewer_than_keep(conn: sqlite3.Connection) -> None:
    log = BatchLog(conn, "request_logs")
    _append(log, 5, 1, 1)
    log.prune(6)
    assert _counts(conn) == [5, 1, 1]


def test_many_one_record_batches_are_pruned_to_exactly_keep(conn: sqlite3.Connection) -> None:
    log = BatchLog(conn, "request_logs")
    _append(log, *[1] * 5000)
    log.prune(1000)
    assert len(_counts(conn)) == 1000
    _append(log, 1, 1)
    log.prune(1000)  # the kept count follows each append
    assert len(_counts(conn)) == 1000


def test_a_log_opened_on_an_existing_table_counts_what_it_holds(conn: sqlite3.Connection) -> None:
    _append(BatchLog(conn, "request_logs"), 2, 2, 2)
    BatchLog(conn, "request_logs").prune(4)
    assert _counts(conn) == [2, 2]


def test_batches_the_export_has_not_sent_are_kept_past_the_retention(conn: sqlite3.Connection) -> None:
    log = BatchLog(conn, "request_logs")
    _append(log, 1, 1, 1, 1)
    first_seq = int(conn.execute("SELECT min(seq) FROM request_logs").fetchone()[0])
    log.prune(1, floor=(first_seq + 1) * ID_SPAN)  # the export sent the first batch only
    assert _counts(conn) == [1, 1, 1]


def test_after_a_recount_the_table_is_counted_again(conn: sqlite3.Connection) -> None:
    log = BatchLog(conn, "request_logs")
    _append(log, 2, 2)
    log.prune(10)
    conn.execute("DELETE FROM request_logs")  # what a rolled-back write leaves unknown to the count
    log.recount()
    _append(log, 2, 2, 2)
    log.prune(4)
    assert _counts(conn) == [2, 2]
