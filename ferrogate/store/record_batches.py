"""A log of request records kept as batches: one row per write, holding every record it took.

At thousands of requests a second a row per request would cost the control process
more CPU than the whole rest of the records' journey (an insert is microseconds; a
batch of 4,000 is one insert). Reads are rarer and can afford to decode: a page is
found by reading batches newest first (oldest first for the export), skipping the
batches whose time span misses the filter's, and filtering their records.

A record's id is ``seq * ID_SPAN + index``: the batch's row and the record's place
in it, so ids grow with arrival and a cursor is one integer.

A request-log batch whose records all bill holds the same bytes as its metering-event
batch, so it is stored once: the log row keeps an empty blob and names the event row
(``events_seq``), whose retention then waits for the log row's (writing every record
twice was a third of the control process's CPU under load).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import msgspec

from ferrogate.ipc.record_summary import RecordBlob
from ferrogate.ipc.request_records import RequestRecord

ID_SPAN = 1_000_000  # more than any batch holds (the sink queues at most 200,000 records)

_DECODE = msgspec.msgpack.Decoder(list[RequestRecord])

Match = Callable[[RequestRecord], bool]


class BatchLog:
    """One table of batches (``seq``, ``first_at``, ``last_at``, ``count``, ``records``);
    ``shares_from``: the table whose rows a row naming one (``events_seq``) takes its records from."""

    __slots__ = ("_records", "_total", "conn", "table")

    def __init__(self, conn: sqlite3.Connection, table: str, shares_from: str | None = None) -> None:
        self.conn = conn
        self.table = table
        self._total: int | None = None  # records in the table, counted once, then kept up to date
        # The SQL of a row's records: its own blob, or the one of the row it names.
        self._records = "records" if shares_from is None else (
            f"CASE WHEN events_seq IS NULL THEN records ELSE"
            f" (SELECT s.records FROM {shares_from} s WHERE s.seq = {table}.events_seq) END"
        )

    def append(self, blob: RecordBlob, shared_seq: int | None = None) -> int | None:
        """One row holding the blob's records as they came (encoded by the worker), or naming
        row ``shared_seq`` of the sharing table, which holds them; the new row's seq."""
        if not blob.count:
            return None
        if shared_seq is None:
            cursor = self.conn.execute(
                f"INSERT INTO {self.table} (first_at, last_at, count, records) VALUES (?,?,?,?)",
                (blob.first_at, blob.last_at, blob.count, blob.data),
            )
        else:
            cursor = self.conn.execute(
                f"INSERT INTO {self.table} (first_at, last_at, count, records, events_seq) VALUES (?,?,?,x'',?)",
                (blob.first_at, blob.last_at, blob.count, shared_seq),
            )
        if self._total is not None:
            self._total += blob.count
        return cursor.lastrowid

    def oldest_shared(self) -> int | None:
        """The oldest row of the sharing table that a row of this one still takes its records from."""
        row = self.conn.execute(f"SELECT min(events_seq) FROM {self.table} WHERE events_seq IS NOT NULL").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def prune(self, keep: int, floor: int | None = None) -> None:
        """Delete the batches wholly older than the newest ``keep`` records (never a batch
        holding a record after id ``floor``: the export has not sent it).

        Runs at every write, so it reads only the oldest batches it deletes (and one more):
        a quiet gateway's tables hold up to a million one-record batches, and reading them all
        at every write kept the control process busy."""
        table = self.table
        if self._total is None:
            row = self.conn.execute(f"SELECT coalesce(sum(count), 0) FROM {table}").fetchone()
            self._total = int(row[0])
        excess = self._total - keep
        if excess <= 0:
            return
        last_seq = None if floor is None else floor // ID_SPAN - 1  # the newest batch the export is done with
        removed = 0
        upto: int | None = None
        cursor = self.conn.execute(f"SELECT seq, count FROM {table} ORDER BY seq")
        try:
            for seq, count in cursor:
                if removed + count > excess or (last_seq is not None and seq > last_seq):
                    break  # deleting it would leave fewer than ``keep``, or it is not exported
                removed += count
                upto = seq
        finally:
            cursor.close()
        if upto is not None:
            self.conn.execute(f"DELETE FROM {table} WHERE seq <= ?", (upto,))
            self._total -= removed

    def recount(self) -> None:
        """Count the table again at the next prune (a write that took part rolled back)."""
        self._total = None

    def newest(self, match: Match, since: float | None, until: float | None, before: int | None,
               limit: int, keep: int) -> list[tuple[int, RequestRecord]]:
        """Up to ``limit`` matching records, newest first, among the newest ``keep``, with ids
        below ``before``."""
        out: list[tuple[int, RequestRecord]] = []
        seen = 0  # records newer than the one being looked at (retention counts them all)
        for seq, first_at, last_at, count, blob in self._rows_desc():
            if seen >= keep:
                break
            if (since is not None and last_at < since) or (until is not None and first_at >= until):
                seen += count
                continue
            records = _DECODE.decode(blob)
            for index in range(len(records) - 1, -1, -1):
                if seen >= keep:
                    break
                seen += 1
                ident = seq * ID_SPAN + index
                r = records[index]
                if (before is None or ident < before) and match(r) and _within(r, since, until):
                    out.append((ident, r))
                    if len(out) == limit:
                        return out
        return out

    def after(self, after: int, limit: int) -> list[tuple[int, RequestRecord]]:
        """Up to ``limit`` records with ids above ``after``, oldest first."""
        out: list[tuple[int, RequestRecord]] = []
        rows = self.conn.execute(
            f"SELECT seq, {self._records} FROM {self.table} WHERE seq >= ? ORDER BY seq", (after // ID_SPAN,)
        )
        for seq, blob in rows:
            for index, r in enumerate(_DECODE.decode(blob)):
                ident = seq * ID_SPAN + index
                if ident > after:
                    out.append((ident, r))
                    if len(out) == limit:
                        return out
        return out

    def count_after(self, after: int) -> int:
        seq, index = divmod(after, ID_SPAN)
        row = self.conn.execute(f"SELECT coalesce(sum(count), 0) FROM {self.table} WHERE seq > ?", (seq,)).fetchone()
        partial = self.conn.execute(f"SELECT count FROM {self.table} WHERE seq = ?", (seq,)).fetchone()
        rest = max(0, int(partial[0]) - index - 1) if partial is not None and after > 0 else 0
        return int(row[0]) + rest

    def newest_id(self) -> int:
        row = self.conn.execute(f"SELECT seq, count FROM {self.table} ORDER BY seq DESC LIMIT 1").fetchone()
        return 0 if row is None else int(row[0]) * ID_SPAN + int(row[1]) - 1

    def _rows_desc(self) -> Iterator[tuple[int, float, float, int, bytes]]:
        cursor = self.conn.execute(
            f"SELECT seq, first_at, last_at, count, {self._records} FROM {self.table} ORDER BY seq DESC"
        )
        for seq, first_at, last_at, count, blob in cursor:
            yield int(seq), float(first_at), float(last_at), int(count), bytes(blob)


def _within(r: RequestRecord, since: float | None, until: float | None) -> bool:
    return (since is None or r.at >= since) and (until is None or r.at < until)
