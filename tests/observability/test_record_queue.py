"""A worker's record queue: it never waits, it drops (and counts) when full, and it sends
batches only while the control process is there."""

from __future__ import annotations

from msgspec.structs import astuple

from ferrogate import ipc
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability.record_queue import BATCH_RECORDS, RecordQueue
from ferrogate.observability.request_tally import RequestTally


class FakeClient:
    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.sent: list[ipc.Message] = []

    def send(self, msg: ipc.Message) -> bool:
        self.sent.append(msg)
        return True


def rec(n: int) -> RequestRecord:
    return RequestRecord(event_id=f"e{n}", at=0.0, request_id=f"r{n}", endpoint="chat", status=200, duration_ms=1.0, overhead_ms=0.1)


def test_a_full_queue_drops_the_new_record_and_counts_it() -> None:
    queue = RecordQueue(RequestTally(), max_queued=2)
    for n in range(5):
        queue(astuple(rec(n)))
    assert (len(queue), queue.dropped) == (2, 3)


def test_a_dropped_record_is_still_in_the_workers_tally() -> None:
    queue = RecordQueue(RequestTally(), max_queued=0)
    queue(astuple(rec(1)))
    assert queue.tally.snapshot().requests == 1


def test_nothing_is_sent_while_control_is_away_and_nothing_is_lost() -> None:
    queue = RecordQueue(RequestTally())
    client = FakeClient(connected=False)
    queue(astuple(rec(1)))
    assert queue.flush(client, 7) == 0  # type: ignore[arg-type]
    client.connected = True
    assert queue.flush(client, 7) == 1  # type: ignore[arg-type]
    (batch,) = client.sent
    assert isinstance(batch, ipc.RecordBatch) and batch.pid == 7
    assert batch.logs.records() == [rec(1)]


def test_a_flush_sends_batches_of_bounded_size_oldest_first() -> None:
    queue = RecordQueue(RequestTally())
    client = FakeClient()
    for n in range(BATCH_RECORDS + 3):
        queue(astuple(rec(n)))
    queue.flush(client, 7)  # type: ignore[arg-type]
    sizes = [m.logs.count for m in client.sent if isinstance(m, ipc.RecordBatch)]
    assert sizes == [BATCH_RECORDS, 3]
    first = client.sent[0]
    assert isinstance(first, ipc.RecordBatch) and first.logs.records()[0].event_id == "e0"


def billing(n: int) -> RequestRecord:
    return RequestRecord(event_id=f"e{n}", at=0.0, request_id=f"r{n}", endpoint="chat", status=200, duration_ms=1.0,
                         overhead_ms=0.1, input_tokens=3, output_tokens=2, usage_source="provider")


def test_a_batch_whose_records_all_bill_sends_its_events_once_as_the_log() -> None:
    queue = RecordQueue(RequestTally())
    client = FakeClient()
    queue(astuple(billing(1)))
    queue(astuple(billing(2)))
    queue.flush(client, 7)  # type: ignore[arg-type]
    (batch,) = client.sent
    assert isinstance(batch, ipc.RecordBatch)
    assert batch.all_bill and batch.events.count == 0
    assert batch.billed().records() == [billing(1), billing(2)]


def test_a_batch_with_a_record_that_does_not_bill_sends_the_billed_ones_apart() -> None:
    queue = RecordQueue(RequestTally())
    client = FakeClient()
    queue(astuple(billing(1)))
    queue(astuple(rec(2)))
    queue.flush(client, 7)  # type: ignore[arg-type]
    (batch,) = client.sent
    assert isinstance(batch, ipc.RecordBatch)
    assert not batch.all_bill and batch.billed().records() == [billing(1)]
