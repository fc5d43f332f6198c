"""The control process's record sink: batches from several workers stored in one write."""

from __future__ import annotations

import asyncio
from pathlib import Path

from msgspec.structs import astuple

from ferrogate.config.model import Config
from ferrogate.control.record_sink import RecordSink
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability.gateway_metrics import GatewayMetrics
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.observability.request_tally import RequestTally
from ferrogate.store.request_records import RecordFilter


def record(n: int, *, bills: bool) -> RequestRecord:
    return RequestRecord(event_id=f"e{n}", at=1_764_900_000.0 + n, request_id=f"r{n}", endpoint="chat", status=200,
                         duration_ms=1.0, overhead_ms=0.1, input_tokens=3 if bills else 0,
                         output_tokens=2 if bills else 0, usage_source="provider" if bills else None)


def test_a_batch_that_all_bills_and_one_that_does_not_are_stored_together(tmp_path: Path) -> None:
    async def main() -> tuple[list[str], list[str]]:
        sink = RecordSink(Config(), str(tmp_path / "state.db"), GatewayMetrics([], []))
        await sink.start()
        try:
            queue = RecordQueue(RequestTally())
            sink.accept(queue.pack([astuple(record(1, bills=True)), astuple(record(2, bills=True))], 1))
            sink.accept(queue.pack([astuple(record(3, bills=False)), astuple(record(4, bills=True))], 2))
            await sink.flush()
            store = sink.store
            logs = await sink.run(lambda: store.request_logs(RecordFilter(), None, 10))
            events = await sink.run(lambda: store.metering_events(RecordFilter(), None, 10))
            return [r.event_id for _, r in logs], [r.event_id for _, r in events]
        finally:
            await sink.stop()

    logs, events = asyncio.run(main())
    assert logs == ["e4", "e3", "e2", "e1"]
    assert events == ["e4", "e2", "e1"]
