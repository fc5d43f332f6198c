"""OTLP attribute fields written in one C pass (``_otlp_fields.key_values``) are the bytes the
Python writer makes (``otlp_proto.key_values_py``), which protobuf itself decodes: the exporter
may use either."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from ferrogate.observability import otlp_proto as pb

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
