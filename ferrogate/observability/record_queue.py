"""A worker's queue of finished requests' records, on their way to the control process.

The account phase calls the queue with each record: it is counted in the worker's
tally and appended, nothing more (no I/O, no wait). The worker's flusher hands the
control process a :class:`~ferrogate.ipc.RecordBatch` every ``FLUSH_SECS`` or as
soon as ``BATCH_RECORDS`` are waiting, encoded and summed here (the usage rows, the metric
counts and, when OTLP metrics are exported, the GenAI histograms), so the control process
stores and adds without decoding. The queue is bounded: while control is unreachable it
fills, and a record that finds it full is dropped and counted
(``dropped``, reported in the heartbeat and exported as a metric), never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Final

from ferrogate import ipc
from ferrogate.config.model import Config
from ferrogate.config.otel_env import otel_settings
from ferrogate.ipc.record_summary import MetricCounts, RecordBlob, encode_fields
from ferrogate.ipc.request_records import RECORD_FIELDS, RecordFields
from ferrogate.ipc.usage_sums import bills, sum_usage
from ferrogate.observability.otlp_metrics import GenAiBatch
from ferrogate.observability.record_counter import RecordCounter
from ferrogate.observability.request_tally import RequestTally

FLUSH_SECS: Final = 0.2
BATCH_RECORDS: Final = 500
MAX_QUEUED: Final = 50_000
_TRACE_SAMPLED: Final = RECORD_FIELDS.index("trace_sampled")


class RecordQueue:
    __slots__ = ("_full", "_pending", "counter", "dropped", "genai", "max_queued", "tally", "traced_apart")

    def __init__(self, tally: RequestTally, counter: RecordCounter | None = None, max_queued: int = MAX_QUEUED,
                 *, genai: bool = False, traced_apart: bool = False) -> None:
        self.tally = tally
        # the labelling of the metric counts (the config's models and providers)
        self.counter = counter if counter is not None else RecordCounter((), ())
        self.genai = genai  # the control process exports OTLP metrics: sum each batch's GenAI histograms too
        # it exports OTLP traces but no logs: send the sampled records apart (all it decodes)
        self.traced_apart = traced_apart
        self.max_queued = max_queued
        self._pending: list[RecordFields] = []
        self._full = asyncio.Event()
        self.dropped = 0

    @classmethod
    def for_config(cls, config: Config, env: Mapping[str, str], max_queued: int = MAX_QUEUED) -> RecordQueue:
        """The queue a worker runs with ``config``: with OTLP on, what the control process
        exports (``env``'s OpenTelemetry variables) decides what each batch carries."""
        otel = otel_settings(env) if config.telemetry.otlp_endpoint is not None else None
        return cls(RequestTally(), RecordCounter.for_config(config), max_queued,
                   genai=otel is not None and otel.metrics,
                   traced_apart=otel is not None and otel.traces and not otel.logs)

    def __call__(self, record: RecordFields) -> None:
        self.add(record)

    def add(self, record: RecordFields) -> None:
        """Count and keep one record: the fields of its ``RequestRecord`` (``pipeline.record``)."""
        self.tally.count(record)  # a method: a compiled call (calling the object is a generic one)
        pending = self._pending
        if len(pending) >= self.max_queued:
            self.dropped += 1
            return
        pending.append(record)
        if len(pending) == BATCH_RECORDS:
            self._full.set()

    def __len__(self) -> int:
        return len(self._pending)

    def take(self, limit: int = BATCH_RECORDS) -> list[RecordFields]:
        """The oldest ``limit`` records, removed from the queue."""
        pending = self._pending
        if len(pending) <= limit:
            self._pending = []
            return pending
        batch = pending[:limit]
        del pending[:limit]
        return batch

    def flush(self, client: ipc.ControlClient, pid: int) -> int:
        """Send what is waiting (when connected); the number of records sent."""
        sent = 0
        while self._pending and client.connected:
            batch = self.take()
            client.send(self.pack(batch, pid))
            sent += len(batch)
        return sent

    def pack(self, batch: list[RecordFields], pid: int) -> ipc.RecordBatch:
        counter = self.counter.fresh()
        counter.observe_fields(batch)
        counts = counter.to_wire()
        if self.genai:
            counts = MetricCounts(counts.counters, counts.histograms, GenAiBatch().observe_fields(batch))
        billed = [r for r in batch if bills(r)]
        all_bill = len(billed) == len(batch)  # the usual case: the events are the log, encoded once
        traced: RecordBlob | None = None
        if self.traced_apart:
            sampled = [r for r in batch if r[_TRACE_SAMPLED]]
            if len(sampled) < len(batch):  # all of them: the control process reads the log's blob
                traced = encode_fields(sampled)
        return ipc.RecordBatch(
            pid=pid,
            logs=encode_fields(batch),
            events=RecordBlob() if all_bill else encode_fields(billed),
            usage=sum_usage(batch),
            counts=counts,
            all_bill=all_bill,
            traced=traced,
        )

    async def run(self, client: ipc.ControlClient, pid: int) -> None:
        """Flush every FLUSH_SECS, or at once when a batch is full, until cancelled."""
        while True:
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), FLUSH_SECS)
            self.flush(client, pid)
