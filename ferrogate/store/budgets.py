"""Spent budgets between the counter table and the store.

Only what was spent is saved, never what is reserved: a reservation belongs to a
request in flight, which a restart ends. Rows of a period that has ended are not
restored (the budget starts afresh), so a stale row costs nothing.
"""

from __future__ import annotations

import sqlite3
import time

from ferrogate.governance.counter_table import (
    BUDGET_STRIDE,
    BUDGETS,
    IDENT,
    PERIOD,
    SPENT,
    CounterTable,
)
from ferrogate.governance.quotas import BudgetKind, period_of

_KINDS = tuple(BudgetKind)


class BudgetSnapshots:
    """Writes the table's spent budgets to the store, only the rows that changed since last time."""

    __slots__ = ("_saved", "table")

    def __init__(self, table: CounterTable) -> None:
        self.table = table
        self._saved: dict[tuple[int, int], tuple[int, int]] = {}

    def changed_rows(self) -> list[tuple[int, int, int, int]]:
        fields = self.table.fields
        rows = []
        for base in self.table.used_slots():
            ident = fields[base + IDENT]
            for kind in _KINDS:
                at = base + BUDGETS + int(kind) * BUDGET_STRIDE
                period, spent = fields[at + PERIOD], fields[at + SPENT]
                if period == 0 and spent == 0:
                    continue  # a budget kind this subject does not have
                key = (ident, int(kind))
                if self._saved.get(key) != (period, spent):
                    rows.append((ident, int(kind), period, spent))
        return rows

    def save(self, conn: sqlite3.Connection) -> int:
        """One transaction with every changed row; how many there were."""
        rows = self.changed_rows()
        if not rows:
            return 0
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO spent_budgets (subject, kind, period, spent, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (subject, kind) DO UPDATE SET period = excluded.period, spent = excluded.spent,"
                " updated_at = excluded.updated_at",
                [(*row, now) for row in rows],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        for ident, kind, period, spent in rows:
            self._saved[(ident, kind)] = (period, spent)
        return len(rows)


def restore(conn: sqlite3.Connection, table: CounterTable, now: float | None = None) -> int:
    """Put the saved spends of periods still running back into ``table``; how many rows."""
    now_s = int(time.time() if now is None else now)
    fields = table.fields
    restored = 0
    for ident, kind, period, spent in conn.execute("SELECT subject, kind, period, spent FROM spent_budgets"):
        budget_kind = BudgetKind(kind)
        if budget_kind is BudgetKind.PERIOD_TOKENS:
            current = period  # its length lives in the config; an ended period is rolled at admission
        else:
            current = period_of(budget_kind, now_s, 1)
        if period != current:
            continue
        base = table.slot_base(ident)
        at = base + BUDGETS + kind * BUDGET_STRIDE
        table.lock(base)
        try:
            fields[at + PERIOD] = period
            fields[at + SPENT] = spent
        finally:
            table.unlock(base)
        restored += 1
    table.mark_restored()
    return restored


def restore_from_store(path: str, table: CounterTable) -> int:
    """At a cold start: the spends saved at ``path`` back into ``table`` (0 when there is no store yet).
    Raises StoreError for a store this code cannot read."""
    from pathlib import Path

    from ferrogate.store.database import MEMORY, open_store

    if path == MEMORY or not Path(path).exists():
        table.mark_restored()
        return 0
    conn = open_store(path, create=False)
    try:
        return restore(conn, table)
    finally:
        conn.close()


def save_once(path: str, table: CounterTable) -> int:
    """Save every spent budget of ``table`` (the supervisor's last word, once its workers are gone)."""
    from ferrogate.store.database import MEMORY, open_store

    if path == MEMORY:
        return 0
    conn = open_store(path)
    try:
        return BudgetSnapshots(table).save(conn)
    finally:
        conn.close()
