"""Where the workers' request records go in the control process.

Each :class:`~ferrogate.ipc.RecordBatch` comes encoded and counted by its worker:
its metric counts are added at once (a few dict updates per batch, on the loop), its GenAI
histogram increments go to the OTLP exporter, its records go to the exporter's thread
(decoded there) only when it sends logs or traces (with traces alone, only the sampled
ones the worker sent apart), and it is queued
for the store, which takes the queue in one transaction every ``WRITE_SECS`` on the
records thread (SQLite never runs on the loop), the queued blobs joined into one row. A store write
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
from ferrogate.control.background import cancel_and_wait
from ferrogate.errors import GatewayError
from ferrogate.ipc import RecordBatch
from ferrogate.ipc.record_summary import GenAiIncrement, RecordBlob, join_blobs
from ferrogate.ipc.usage_sums import UsageRow
from ferrogate.observability.gateway_metrics import GatewayMetrics
from ferrogate.store.database import open_store
from ferrogate.store.request_records import RecordStore

_log = logging.getLogger("ferrogate.control.records")
_T = TypeVar("_T")

WRITE_SECS = 0.25
MAX_WAITING = 200_000  # records queued for the store; beyond it the oldest batches are counted lost


class RecordSink:
    __slots__ = (
        "_executor", "_path", "_store", "_task", "_waiting", "_waiting_records", "config", "lost", "metrics",
        "on_blob", "on_events", "on_increments", "on_unsummed", "only_traced", "written",
    )

    def __init__(self, config: Config, path: str, metrics: GatewayMetrics) -> None:
        self.config = config
        self._path = path
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferrogate-records")
        self._store: RecordStore | None = None
        self._waiting: list[RecordBatch] = []
        self._waiting_records = 0
        self._task: asyncio.Task[None] | None = None
        self.on_blob: Callable[[RecordBlob], None] | None = None  # the OTLP exporter's logs and traces
        self.on_increments: Callable[[list[GenAiIncrement]], None] | None = None  # the OTLP exporter's metrics
        # a batch its worker did not sum (a worker of an older version, during an upgrade): the exporter sums it
        self.on_unsummed: Callable[[RecordBlob], None] | None = None
        self.only_traced = False  # the exporter wants only records whose trace is sampled (traces, no logs)
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
        self.metrics.add(batch.counts)
        if self.on_increments is not None and batch.counts.genai:
            self.on_increments(batch.counts.genai)
        elif self.on_unsummed is not None and batch.logs.count:
            self.on_unsummed(batch.logs)
        if self.on_blob is not None:
            blob = batch.traced if self.only_traced and batch.traced is not None else batch.logs
            try:
                self.on_blob(blob)
            except Exception:  # an exporter bug must not lose the records' other uses
                _log.exception("the OTLP exporter failed on a batch")
        waiting = self._waiting
        waiting.append(batch)
        self._waiting_records += batch.logs.count
        while self._waiting_records > MAX_WAITING and len(waiting) > 1:
            oldest = waiting.pop(0)
            self._waiting_records -= oldest.logs.count
            self.lost += oldest.logs.count

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
        batches, self._waiting = self._waiting, []
        count, self._waiting_records = self._waiting_records, 0
        if not batches:
            return
        store = self.store
        logs = join_blobs([b.logs for b in batches])
        # When every batch's records all bill, the log row shares the event row's blob.
        events = None if all(b.all_bill for b in batches) else join_blobs([b.billed() for b in batches])
        usage: list[UsageRow] = [row for b in batches for row in b.usage]
        try:
            made = await self.run(lambda: store.write_batch(logs, events, usage))
        except Exception:
            self.lost += count
            _log.exception("cannot store %d request records", count)
            return
        self.written += count
        if made and self.on_events is not None:
            self.on_events()

    async def _writer(self) -> None:
        while True:
            await asyncio.sleep(WRITE_SECS)
            await self.flush()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._store is not None:
            with contextlib.suppress(Exception):
                await self.flush()
            store, self._store = self._store, None
            self._executor.submit(store.conn.close)
        self._executor.shutdown(wait=True)
