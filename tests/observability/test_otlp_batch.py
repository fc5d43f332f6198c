"""A worker's msgpack batch written straight to OTLP items in C (``_otlp_fields.batch_messages``)
holds the messages the Python writers make for the same records, one by one; the records the C
reader leaves are written in Python, and bytes that are not a batch never crash it."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ferrogate.ipc.record_summary import RecordBlob, encode_blob
from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.observability import otlp_batch
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_batch import (
    LAYOUT,
    ItemBuffer,
    PythonItems,
    write_blob,
    write_records,
)
from ferrogate.observability.otlp_logs import LOGS_ITEMS, log_message_py
from ferrogate.observability.otlp_spans import TRACES_ITEMS, span_messages_py
from tests.support.record_strategies import records

native = pytest.importorskip("ferrogate.observability._otlp_fields", reason="not built (make compiled)")

OBSERVED = 1_800_000_000_000_000_000
batches = st.lists(records, max_size=12)


def _python_items(batch: list[RequestRecord]) -> tuple[bytes, bytes]:
    """The framed log records and spans the Python writers make, record by record."""
    logs = [log_message_py(r, OBSERVED, pb.Memo()) for r in batch]
    spans = [s for r in batch for s in span_messages_py(r, pb.Memo())]
    return pb.frame_items(LOGS_ITEMS, logs), pb.frame_items(TRACES_ITEMS, spans)


def _traced(**changes: Any) -> RequestRecord:
    record = RequestRecord(event_id="e", at=1.7e9, request_id="r", endpoint="chat", status=200, duration_ms=1.5,
                           overhead_ms=0.25, trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7",
                           model="m", provider="p", provider_model="pm", attempts=1, cost_pico=1234,
                           attempt_log=(AttemptRecord("p", "pm", 0.1, 1.2, 200, None, "00f067aa0ba902b8"),))
    return msgspec.structs.replace(record, **changes)


def _batch(batch: list[RequestRecord] | bytes, logs: bool = True, spans: bool = True
           ) -> tuple[bytes, int, bytes, int, list[int]]:
    """``batch_messages`` of records (or raw msgpack): the framed logs and spans, their counts,
    and the records left."""
    data = batch if isinstance(batch, bytes) else encode_blob(batch).data
    log_items, span_items = native.Items(), native.Items()
    left = native.batch_messages(data, LAYOUT, OBSERVED, log_items if logs else None, span_items if spans else None)
    log_count, span_count = log_items.count, span_items.count
    return log_items.take(b"", b""), log_count, span_items.take(b"", b""), span_count, left


def _written(blob: RecordBlob, items: type[ItemBuffer] = native.Items) -> tuple[bytes, int, bytes, int]:
    logs, spans = items(), items()
    write_blob(blob, OBSERVED, logs, spans, pb.Memo(), pb.Memo())
    log_count, span_count = logs.count, spans.count
    return logs.take(b"", b""), log_count, spans.take(b"", b""), span_count


def _messages(framed: bytes, request: type[Any]) -> list[bytes]:
    """Each item's serialized message, from an export request around the framed items."""
    head, tail = pb.export_envelope(b"", b"", len(framed))
    parsed = request.FromString(head + framed + tail)
    scope = parsed.resource_logs if request is ExportLogsServiceRequest else parsed.resource_spans
    inner = scope[0].scope_logs[0].log_records if request is ExportLogsServiceRequest else scope[0].scope_spans[0].spans
    return sorted(m.SerializeToString() for m in inner)


@settings(max_examples=60, deadline=None)
@given(batches)
def test_a_batch_written_from_msgpack_is_the_python_writers_items(batch: list[RequestRecord]) -> None:
    logs, log_count, spans, span_count, left = _batch(batch)
    want_logs, want_spans = _python_items(batch)
    assert left == []
    assert (logs, spans) == (want_logs, want_spans)
    assert log_count == len(batch)
    assert span_count == sum(len(span_messages_py(r, pb.Memo())) for r in batch)


@settings(max_examples=50, deadline=None)
@given(batches, st.booleans(), st.booleans())
def test_a_signal_not_exported_is_not_written(batch: list[RequestRecord], logs: bool, spans: bool) -> None:
    log_items, _, span_items, _, _ = _batch(batch, logs, spans)
    want_logs, want_spans = _python_items(batch)
    assert log_items == (want_logs if logs else b"")
    assert span_items == (want_spans if spans else b"")


def test_an_unsampled_or_untraced_record_has_a_log_and_no_span() -> None:
    batch = [_traced(trace_sampled=False), _traced(trace_id=None, span_id=None)]
    _, log_count, spans, span_count, left = _batch(batch)
    assert (log_count, spans, span_count, left) == (2, b"", 0, [])


@pytest.mark.parametrize("odd", [
    {"cost_pico": -5},  # a refund: Decimal's text
    {"span_id": "00f067aa 0ba902b7"},  # bytes.fromhex takes spaces
    {"input_tokens": 2**63, "usage_source": "provider"},  # beyond int64: the Python writer refuses it
    {"attempt_log": (AttemptRecord("p", "pm", -1e15, 1.0, 200, None, "00f067aa0ba902b8"),)},  # before 1970
], ids=["negative-cost", "spaced-hex", "int-beyond-int64", "attempt-before-1970"])
def test_a_record_the_c_reader_leaves_is_named_and_nothing_of_it_is_written(odd: dict[str, Any]) -> None:
    batch = [_traced(request_id="a"), _traced(request_id="b", **odd), _traced(request_id="c")]
    logs, log_count, spans, span_count, left = _batch(batch)
    assert left == [1]
    want_logs, want_spans = _python_items([batch[0], batch[2]])
    assert (logs, log_count, spans, span_count) == (want_logs, 2, want_spans, 4)


@pytest.mark.parametrize("odd", [{"cost_pico": -5}, {"span_id": "00f067aa 0ba902b7"}], ids=["negative-cost", "spaced-hex"])
def test_write_blob_writes_the_records_the_c_reader_leaves_in_python(odd: dict[str, Any]) -> None:
    batch = [_traced(request_id="a"), _traced(request_id="b", **odd), _traced(request_id="c")]
    logs, log_count, spans, span_count = _written(encode_blob(batch))
    python_logs, python_spans = PythonItems(), PythonItems()
    write_records(batch, OBSERVED, python_logs, python_spans, pb.Memo(), pb.Memo())
    assert (log_count, span_count) == (3, 6)
    assert _messages(logs, ExportLogsServiceRequest) == _messages(python_logs.take(b"", b""), ExportLogsServiceRequest)
    assert _messages(spans, ExportTraceServiceRequest) == _messages(python_spans.take(b"", b""),
                                                                   ExportTraceServiceRequest)


def test_a_record_python_cannot_write_either_is_skipped_and_the_others_are_written() -> None:
    batch = [_traced(request_id="a"), _traced(request_id="b", input_tokens=2**63, usage_source="provider")]
    assert _written(encode_blob(batch))[1::2] == (1, 2)


def test_a_record_of_an_older_shape_is_decoded_and_written_in_python() -> None:
    record = _traced(trace_sampled=True)
    older = msgspec.msgpack.encode([msgspec.structs.astuple(record)[:-1]])  # before trace_sampled was added
    assert _batch(older)[4] == [0]
    logs, _, spans, _ = _written(RecordBlob(1, record.at, record.at, older))
    assert (logs, spans) == _python_items([record])


def test_without_the_c_module_every_record_is_written_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [_traced(request_id=str(i)) for i in range(3)]
    monkeypatch.setattr(otlp_batch, "native", None)
    logs, _, spans, _ = _written(encode_blob(batch), PythonItems)
    assert (logs, spans) == _python_items(batch)


@pytest.mark.parametrize("data", [
    b"",
    b"\x91",  # an array of one record, and no record
    b"\x80",  # a map, not an array
    b"\x91\xc1",  # 0xc1: never used in msgpack
    b"\x91\xa2\xff\xfe",  # a string that is not UTF-8
    b"\x91\xa2\xed\xa0",  # a truncated surrogate
    b"\x91\xdd\xff\xff\xff\xff",  # a record claiming 4G fields
    b"\x90\x90",  # bytes after the batch
    b"\x91" + b"\x91" * 40 + b"\xc0",  # nested past any record's depth
], ids=["empty", "truncated", "map", "c1", "bad-utf8", "half-surrogate", "huge-array", "trailing", "deep"])
def test_bytes_that_are_not_a_batch_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        _batch(data)


def test_write_blob_raises_for_a_batch_msgspec_refuses_too() -> None:
    with pytest.raises(msgspec.DecodeError):
        _written(RecordBlob(1, 0.0, 0.0, b"\x91\xa2\xff\xfe"))


@settings(max_examples=100, deadline=None)
@given(batches.filter(bool), st.data())
def test_a_damaged_batch_is_refused_or_read_never_past_its_end(batch: list[RequestRecord], data: st.DataObject) -> None:
    raw = bytearray(encode_blob(batch).data)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    try:
        _, log_count, _, _, left = _batch(bytes(raw[:cut]))
    except ValueError:
        return
    assert all(0 <= i <= len(batch) for i in left) and log_count + len(left) <= len(batch) + 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_reader(data: bytes) -> None:
    try:
        _batch(data)
    except ValueError:
        pass


@pytest.mark.parametrize("layout", [
    (),
    (LAYOUT[0] + 100, *LAYOUT[1:]),  # more fields than the reader holds
    (LAYOUT[0], LAYOUT[1][:-1], *LAYOUT[2:]),  # an index of another writer's length
    (LAYOUT[0], tuple(0 for _ in LAYOUT[1]), *LAYOUT[2:]),  # no field left for the extras
    (*LAYOUT[:4], (("chat", "chat"),), LAYOUT[5]),
], ids=["empty", "too-many-fields", "short-index", "no-extras", "short-operation"])
def test_a_layout_that_does_not_fit_the_writers_is_refused(layout: tuple[Any, ...]) -> None:
    with pytest.raises((TypeError, ValueError)):
        native.batch_messages(b"\x90", layout, OBSERVED, native.Items(), native.Items())


def test_a_refused_batch_leaves_nothing_in_the_items() -> None:
    logs, spans = native.Items(), native.Items()
    good = encode_blob([_traced(), _traced()]).data
    native.batch_messages(good, LAYOUT, OBSERVED, logs, spans)
    before = (logs.size, logs.count, spans.size, spans.count)
    with pytest.raises(ValueError):  # the first record is written before the second turns out cut short
        native.batch_messages(good[:-3], LAYOUT, OBSERVED, logs, spans)
    assert (logs.size, logs.count, spans.size, spans.count) == before


def test_items_take_wraps_the_items_once_and_keeps_nothing() -> None:
    items = native.Items()
    items.add(b"abc", 2)
    items.add(b"de", 1)
    assert (items.count, items.size) == (3, 5)
    assert items.take(b"<", b">") == b"<abcde>"
    assert (items.count, items.size, items.take(b"", b"")) == (0, 0, b"")


def test_one_items_for_both_signals_is_refused() -> None:
    items = native.Items()
    with pytest.raises(ValueError):
        native.batch_messages(b"\x90", LAYOUT, OBSERVED, items, items)


def test_a_message_longer_than_two_length_bytes_hold_is_framed_whole() -> None:
    record = _traced(request_id="r" * 20_000)  # a log record past 16 KiB: three bytes of length
    logs, _, spans, _, left = _batch([record, _traced()])
    assert left == []
    assert (logs, spans) == _python_items([record, _traced()])
