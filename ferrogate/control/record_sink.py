"""Where the workers' request records go in the control process.

Each :class:`~ferrogate.ipc.RecordBatch` is counted in the metrics at once (a few
dict updates per record, on the loop), handed to the span exporter when tracing is
on, and queued for the store, which takes the queue in one transaction every
``WRITE_SECS`` on the records thread (SQLite never runs on the loop). A store write
that fails is logged and its records are counted as lost; serving goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ferrogate.config.model import Config
from ferrogate.errors import GatewayError
from ferrogate.ipc import RecordBatch
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability.gateway_metrics import GatewayMetrics
from ferrogate.store.database import open_store
from ferrogate.store.request_records import RecordStore

_log = logging.getLogger("ferrogate.control.records")
_T = TypeVar("_T")

WRITE_SECS = 0.25
MAX_WAITING = 200_000  # records queued for the store; beyond it the oldest are counted lost


class RecordSink:
    __slots__ = (
        "_executor", "_path", "_store", "_task", "_waiting", "config", "lost", "metrics",
        "on_events", "on_records", "written",
    )

    def __init__(self, config: Config, path: str, metrics: GatewayMetrics) -> None:
        self.config = config
        self._path = path
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferrogate-records")
        self._store: RecordStore | None = None
        self._waiting: list[RequestRecord] = []
        self._task: asyncio.Task[None] | None = None
        self.on_records: Callable[[list[RequestRecord]], None] | None = None  # the span exporter
        self.on_events: Callable[[], None] | None = None  # new metering events in the outbox
        self.written = 0
        self.lost = 0

    async def start(self) -> None:
        storage = self.config.storage
        export = self.config.metering.export_enabled
        self._store = await self.run(
            lambda: RecordStore(
                open_store(self._path),
                keep_logs=storage.request_log_retention_records,
                keep_events=storage.billing_event_retention_records,
                export=export,
            )
        )
        self._task = asyncio.get_running_loop().create_task(self._writer(), name="record-writer")

    def accept(self, batch: RecordBatch) -> None:
        records = batch.records
        self.metrics.observe(records)
        if self.on_records is not None:
            try:
                self.on_records(records)
            except Exception:  # an exporter bug must not lose the records' other uses
                _log.exception("the span exporter failed on a batch")
        waiting = self._waiting
        waiting.extend(records)
        if len(waiting) > MAX_WAITING:
            excess = len(waiting) - MAX_WAITING
            del waiting[:excess]
            self.lost += excess

    @property
    def store(self) -> RecordStore:
        if self._store is None:
            raise GatewayError(503, "the record store is still opening", code="store_starting")
        return self._store

    async def run(self, job: Callable[[], _T]) -> _T:
        """Run ``job`` on the records thread (every use of the store goes through here)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def flush(self) -> None:
        """Write what is waiting now (also what the writer does every WRITE_SECS)."""
        batch, self._waiting = self._waiting, []
        if not batch:
            return
        store = self.store
        try:
            events = await self.run(lambda: store.write(batch))
        except Exception:
            self.lost += len(batch)
            _log.exception("cannot store %d request records", len(batch))
            return
        self.written += len(batch)
        if events and self.on_events is not None:
            self.on_events()

    async def _writer(self) -> None:
        while True:
            await asyncio.sleep(WRITE_SECS)
            await self.flush()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._store is not None:
            with contextlib.suppress(Exception):
                await self.flush()
            store, self._store = self._store, None
            self._executor.submit(store.conn.close)
        self._executor.shutdown(wait=True)
