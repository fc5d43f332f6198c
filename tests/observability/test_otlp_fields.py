"""OTLP fields and messages written in one C pass (``_otlp_fields``) are the bytes the Python
writers make (``otlp_proto.key_values_py``, ``otlp_logs.log_message_py``,
``otlp_spans.span_messages_py``), which protobuf itself decodes: the exporter may use either,
and a record the C writer cannot write exactly is left to Python."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_logs import log_message, log_message_py, native_log
from ferrogate.observability.otlp_spans import native_spans, span_messages, span_messages_py
from tests.support.record_strategies import records

native = pytest.importorskip("ferrogate.observability._otlp_fields", reason="not built (make compiled)")
ATTRIBUTE = pb.length_tag(6)  # LogRecord.attributes

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
           | st.floats(allow_nan=False) | st.text())
pairs = st.lists(st.tuples(st.text(min_size=1, max_size=300), scalars), max_size=80)  # past 64: the heap path


def _call(writer: object, items: list[tuple[str, Any]]) -> bytes:
    keys = tuple(pb.key_prefix(k) for k, _ in items)
    return writer(ATTRIBUTE, keys, tuple(v for _, v in items))  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(pairs)
def test_the_c_writer_makes_the_python_writers_bytes(items: list[tuple[str, Any]]) -> None:
    assert _call(native.key_values, items) == _call(pb.key_values_py, items)


@settings(max_examples=100, deadline=None)
@given(pairs)
def test_protobuf_decodes_the_fields_to_the_values_that_are_not_none(items: list[tuple[str, Any]]) -> None:
    record = LogRecord.FromString(_call(native.key_values, items))
    field = {bool: "bool_value", int: "int_value", float: "double_value", str: "string_value"}
    want = [KeyValue(key=k, value=AnyValue(**{field[type(v)]: v})) for k, v in items if v is not None]
    assert list(record.attributes) == want


@pytest.mark.parametrize("writer", [native.key_values, pb.key_values_py], ids=["c", "python"])
def test_an_int_beyond_int64_is_refused(writer: object) -> None:
    with pytest.raises(OverflowError):
        _call(writer, [("n", 2**63)])


@pytest.mark.parametrize("writer", [native.key_values, pb.key_values_py], ids=["c", "python"])
def test_a_value_of_another_type_is_refused(writer: object) -> None:
    with pytest.raises(TypeError):
        _call(writer, [("n", b"bytes")])


@pytest.mark.parametrize("writer", [native.key_values, pb.key_values_py], ids=["c", "python"])
def test_keys_and_values_must_pair_up(writer: object) -> None:
    with pytest.raises(ValueError):
        writer(ATTRIBUTE, (pb.key_prefix("a"),), ("x", "y"))  # type: ignore[operator]


def test_a_string_that_is_not_utf8_encodable_is_refused_as_python_refuses_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        _call(native.key_values, [("s", "\ud800")])
    with pytest.raises(UnicodeEncodeError):
        _call(pb.key_values_py, [("s", "\ud800")])


@settings(max_examples=300, deadline=None)
@given(records, st.integers(min_value=0, max_value=2**63))
def test_a_log_record_written_in_c_is_the_python_writers(record: RequestRecord, observed_ns: int) -> None:
    assert log_message(record, observed_ns, pb.Memo()) == log_message_py(record, observed_ns, pb.Memo())


@settings(max_examples=300, deadline=None)
@given(records)
def test_spans_written_in_c_are_the_python_writers(record: RequestRecord) -> None:
    assert span_messages(record, pb.Memo()) == span_messages_py(record, pb.Memo())


def _traced(**changes: Any) -> RequestRecord:
    record = RequestRecord(event_id="e", at=1.7e9, request_id="r", endpoint="chat", status=200, duration_ms=1.5,
                           overhead_ms=0.25, trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7",
                           model="m", provider="p", provider_model="pm", attempts=1, cost_pico=1234)
    return msgspec.structs.replace(record, **changes)


def test_a_usual_record_is_written_by_the_c_writer() -> None:
    record = _traced(attempt_log=(AttemptRecord("p", "pm", 0.1, 1.2, 200, None, "00f067aa0ba902b8"),))
    assert native_log(record, 1) == log_message_py(record, 1, pb.Memo())
    spans = native_spans(record)
    assert spans == span_messages_py(record, pb.Memo()) and len(spans) == 2


@pytest.mark.parametrize("changes", [
    {"cost_pico": -5},  # a refund: Decimal's text
    {"span_id": "00f067aa 0ba902b7"},  # bytes.fromhex takes spaces
], ids=["negative-cost", "spaced-hex"])
def test_a_log_record_the_c_writer_leaves_to_python_is_still_written(changes: dict[str, Any]) -> None:
    record = _traced(**changes)
    assert native_log(record, 1) is None
    assert log_message(record, 1, pb.Memo()) == log_message_py(record, 1, pb.Memo())
    assert LogRecord.FromString(log_message(record, 1, pb.Memo())).attributes


@pytest.mark.parametrize("changes", [
    {"parent_span_id": "00f067aa 0ba902b7"},
    {"trace_id": "4bf92f3577b34da6a3ce929d0e0e473"},  # odd length: bytes.fromhex refuses it
    {"at": -1.0},  # before 1970: the Python writer refuses it too
], ids=["spaced-hex", "odd-hex", "negative-time"])
def test_spans_the_c_writer_leaves_to_python_are_the_python_writers(changes: dict[str, Any]) -> None:
    record = _traced(**changes)
    assert native_spans(record) is None
    try:
        want: list[bytes] | Exception = span_messages_py(record, pb.Memo())
    except Exception as exc:  # the same refusal is the expected outcome
        want = exc
    if isinstance(want, Exception):
        with pytest.raises(type(want)):
            span_messages(record, pb.Memo())
    else:
        assert span_messages(record, pb.Memo()) == want
