"""The store: its schema migrations, and spent budgets saved from and restored into the counter table."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ferrogate.config.model import ApiKey
from ferrogate.governance.counter_table import SPENT, CounterTable
from ferrogate.governance.limiter import LocalLimiter
from ferrogate.governance.quotas import QuotaBook
from ferrogate.store.budgets import BudgetSnapshots, restore, restore_from_store
from ferrogate.store.database import SCHEMA_VERSION, StoreError, open_store, schema_version

DEC_4 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC).timestamp()


def _spend(table: CounterTable, tokens: int, at: float = DEC_4, **quota: int) -> QuotaBook:
    book = QuotaBook([ApiKey(id="k", key="x", **quota)], [])  # type: ignore[arg-type]
    lim = LocalLimiter(table, book, clock=lambda: at)
    lim.settle(lim.admit(book.by_key["k"], tokens, 0), tokens, 0)
    return book


def _spent(table: CounterTable, book: QuotaBook) -> int:
    subject = book.by_key["k"][0]
    return int(table.fields[table.slot_base(subject.ident) + subject.budgets[0].field + SPENT])


def test_a_new_store_gets_the_current_schema(tmp_path: Path) -> None:
    conn = open_store(str(tmp_path / "s.db"))
    assert schema_version(conn) == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_a_current_store_again_changes_nothing(tmp_path: Path) -> None:
    open_store(str(tmp_path / "s.db")).close()
    conn = open_store(str(tmp_path / "s.db"))
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_a_store_newer_than_the_code_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_store(str(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"version {SCHEMA_VERSION + 1}, newer than this FerroGate knows \\({SCHEMA_VERSION}\\)"):
        open_store(str(path))


def test_spent_budgets_survive_a_round_trip_through_the_store(tmp_path: Path) -> None:
    first = CounterTable.create(capacity=64)
    book = _spend(first, 70, daily_token_budget=100)
    conn = open_store(str(tmp_path / "s.db"))
    assert BudgetSnapshots(first).save(conn) == 1
    second = CounterTable.create(capacity=64)
    assert restore(conn, second, now=DEC_4) == 1
    assert _spent(second, book) == 70


def test_only_changed_rows_are_written_again(tmp_path: Path) -> None:
    table = CounterTable.create(capacity=64)
    _spend(table, 10, daily_token_budget=100)
    conn = open_store(str(tmp_path / "s.db"))
    snapshots = BudgetSnapshots(table)
    assert snapshots.save(conn) == 1
    assert snapshots.save(conn) == 0
    _spend(table, 5, daily_token_budget=100)
    assert snapshots.save(conn) == 1


def test_a_saved_spend_of_an_ended_period_is_not_restored(tmp_path: Path) -> None:
    table = CounterTable.create(capacity=64)
    book = _spend(table, 70, daily_token_budget=100)
    conn = open_store(str(tmp_path / "s.db"))
    BudgetSnapshots(table).save(conn)
    fresh = CounterTable.create(capacity=64)
    assert restore(conn, fresh, now=DEC_4 + 86400) == 0
    assert _spent(fresh, book) == 0


def test_no_store_yet_restores_nothing_and_creates_nothing(tmp_path: Path) -> None:
    table = CounterTable.create(capacity=64)
    assert restore_from_store(str(tmp_path / "absent.db"), table) == 0
    assert not (tmp_path / "absent.db").exists()
    assert table.restored
