"""The control process's writer of spent budgets: a thread, so SQLite never blocks its event loop."""

from __future__ import annotations

import logging
import threading

from ferrogate.governance.counter_table import CounterTable
from ferrogate.store.budgets import BudgetSnapshots
from ferrogate.store.database import StoreError, open_store

log = logging.getLogger("ferrogate.store")

SAVE_INTERVAL_SECS = 1.0


class BudgetSaver:
    """Saves the changed spent budgets every ``interval`` seconds, and once more at stop."""

    __slots__ = ("_done", "_stop", "_thread", "interval", "path", "snapshots")

    def __init__(self, path: str, table: CounterTable, interval: float = SAVE_INTERVAL_SECS) -> None:
        self.path = path
        self.interval = interval
        self.snapshots = BudgetSnapshots(table)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ferrogate-budget-saver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask for the last save and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        self._done.wait(timeout)

    def _run(self) -> None:
        try:
            conn = open_store(self.path)
        except StoreError as exc:
            log.error("spent budgets will not be saved: %s", exc)
            self._done.set()
            return
        try:
            while not self._stop.wait(self.interval):
                self._save(conn)
            self._save(conn)
        finally:
            conn.close()
            self._done.set()

    def _save(self, conn: object) -> None:
        try:
            self.snapshots.save(conn)  # type: ignore[arg-type]
        except Exception as exc:  # a locked or full disk: try again next time
            log.warning("saving spent budgets failed (will retry): %s", exc)
