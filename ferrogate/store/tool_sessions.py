"""The steps of tool sessions in the store: one row per step, appended in batches.

A session is its steps in order (its key and start are its first step's); retention
keeps the newest ``keep_steps`` steps, so the oldest sessions fade first. Blocking
calls: the control process runs these on an executor thread, never on its loop.
"""

from __future__ import annotations

import sqlite3

StepRow = tuple[str, str | None, float, bytes]
"""(session id, key id, at, the step as JSON)."""


class ToolSessionLog:
    def __init__(self, conn: sqlite3.Connection, keep_steps: int) -> None:
        self.conn = conn
        self.keep_steps = keep_steps

    def append(self, rows: list[StepRow]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT INTO tool_steps (session_id, key_id, at, body) VALUES (?, ?, ?, ?)", rows)
            conn.execute(
                "DELETE FROM tool_steps WHERE id <= (SELECT max(id) FROM tool_steps) - ?", (self.keep_steps,)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def steps(self, session_id: str, limit: int) -> list[tuple[str | None, float, bytes]]:
        """The session's first ``limit`` steps in order: (key id, at, body)."""
        cursor = self.conn.execute(
            "SELECT key_id, at, body FROM tool_steps WHERE session_id = ? ORDER BY id LIMIT ?", (session_id, limit)
        )
        return [(row[0], row[1], bytes(row[2])) for row in cursor]
