"""The protobuf wire format, as much of it as OTLP/HTTP needs, written by hand.

The SDK's encoders build a message object per span, log and attribute and cost about
70 us a record; the exporter thread must keep up with every request the workers
serve, so spans, logs and metrics are written straight to bytes here. Only what OTLP
uses: varints, length-delimited fields, fixed64/fixed32 and doubles, and the
``AnyValue``/``KeyValue`` pair of ``opentelemetry/proto/common/v1/common.proto``.
Tests hold the output to the SDK's own encoders, field for field. A record's own attributes
(ids, timings, counts) go through :func:`key_values`: one C pass (``_otlp_fields.c``) when
built, :func:`key_values_py` otherwise.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Final

AttributeValue = str | bool | int | float | Sequence[str] | Sequence[bool] | Sequence[int] | Sequence[float]

_VARINT: Final = 0
_FIXED64: Final = 1
_LENGTH: Final = 2
_FIXED32: Final = 5
_INT64_MASK: Final = (1 << 64) - 1

_pack_double: Final = struct.Struct("<d").pack
_pack_fixed64: Final = struct.Struct("<Q").pack
_pack_fixed32: Final = struct.Struct("<I").pack


_ONE_BYTE: Final = tuple(bytes((n,)) for n in range(0x80))
_CONTINUED: Final = tuple(bytes((n | 0x80,)) for n in range(0x80))


def varint(value: int) -> bytes:
    """``value`` as a base-128 varint; a negative int64 as its 64-bit two's complement."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if 0 < value < 0x4000:  # lengths and most counts: two bytes, no loop
        return _CONTINUED[value & 0x7F] + _ONE_BYTE[value >> 7]
    if value < 0:
        value &= _INT64_MASK
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def length_tag(number: int) -> bytes:
    """The tag of a length-delimited field (strings, bytes, sub-messages)."""
    return tag(number, _LENGTH)


def varint_field(number: int, value: int) -> bytes:
    return tag(number, _VARINT) + varint(value)


def fixed64_tag(number: int) -> bytes:
    return tag(number, _FIXED64)


def fixed64_field(number: int, value: int) -> bytes:
    return tag(number, _FIXED64) + _pack_fixed64(value)


def fixed64(value: int) -> bytes:
    """A fixed64's 8 bytes (its tag from :func:`fixed64_tag`)."""
    return _pack_fixed64(value)


def fixed32_field(number: int, value: int) -> bytes:
    return tag(number, _FIXED32) + _pack_fixed32(value)


def double_field(number: int, value: float) -> bytes:
    return tag(number, _FIXED64) + _pack_double(value)


def message_field(prefix: bytes, body: bytes) -> bytes:
    """A length-delimited field: ``prefix`` is its tag (from :func:`length_tag`)."""
    return prefix + varint(len(body)) + body


def string_field(prefix: bytes, text: str) -> bytes:
    return message_field(prefix, text.encode())


def packed_fixed64(number: int, values: Sequence[int]) -> bytes:
    return message_field(length_tag(number), b"".join([_pack_fixed64(v) for v in values]))


def packed_double(number: int, values: Sequence[float]) -> bytes:
    return message_field(length_tag(number), b"".join([_pack_double(v) for v in values]))


# AnyValue's one-of (common.proto): a set member is written even when it holds its default.
_STRING_VALUE: Final = length_tag(1)
_BOOL_TRUE: Final = varint_field(2, 1)
_BOOL_FALSE: Final = varint_field(2, 0)
_INT_VALUE: Final = tag(3, _VARINT)
_DOUBLE_VALUE: Final = tag(4, _FIXED64)
_ARRAY_VALUE: Final = length_tag(5)
_ARRAY_VALUES: Final = length_tag(1)
_KEY: Final = length_tag(1)
_VALUE: Final = length_tag(2)


def any_value(value: AttributeValue) -> bytes:
    """An ``AnyValue`` message body (without its own tag and length)."""
    if isinstance(value, str):
        return message_field(_STRING_VALUE, value.encode())
    if isinstance(value, bool):  # before int: a bool is an int
        return _BOOL_TRUE if value else _BOOL_FALSE
    if isinstance(value, int):
        return _INT_VALUE + varint(value)
    if isinstance(value, float):
        return _DOUBLE_VALUE + _pack_double(value)
    return message_field(_ARRAY_VALUE, b"".join([message_field(_ARRAY_VALUES, any_value(v)) for v in value]))


def key_prefix(key: str) -> bytes:
    """A ``KeyValue``'s key field, written once per attribute name and reused."""
    return string_field(_KEY, key)


def key_value(key: bytes, value: AttributeValue) -> bytes:
    """A ``KeyValue`` message body: ``key`` from :func:`key_prefix`."""
    return key + message_field(_VALUE, any_value(value))


def attributes(prefix: bytes, values: Mapping[str, AttributeValue]) -> bytes:
    """``values`` as repeated ``KeyValue`` fields tagged ``prefix``, in their order."""
    return b"".join([message_field(prefix, key_value(key_prefix(k), v)) for k, v in values.items()])


# The typed writers below make a whole ``KeyValue`` field (``prefix``: the field's tag in its
# message; ``key``: from :func:`key_prefix`) with one join: the exporter writes about thirty
# a record, and the generic path's intermediate bytes cost more than the data.


def _key_value_field(prefix: bytes, key: bytes, value_tag: bytes, value: bytes) -> bytes:
    any_size = len(value_tag) + len(value)
    return b"".join((prefix, varint(len(key) + 1 + len(varint(any_size)) + any_size), key, _VALUE,
                     varint(any_size), value_tag, value))


def str_attribute(prefix: bytes, key: bytes, value: str) -> bytes:
    data = value.encode()
    return _key_value_field(prefix, key, _STRING_VALUE + varint(len(data)), data)


def int_attribute(prefix: bytes, key: bytes, value: int) -> bytes:
    return _key_value_field(prefix, key, _INT_VALUE, varint(value))


def bool_attribute(prefix: bytes, key: bytes, value: bool) -> bytes:
    return _key_value_field(prefix, key, _BOOL_TRUE if value else _BOOL_FALSE, b"")


def double_attribute(prefix: bytes, key: bytes, value: float) -> bytes:
    return _key_value_field(prefix, key, _DOUBLE_VALUE, _pack_double(value))


Scalar = str | bool | int | float | None


def key_values_py(prefix: bytes, keys: tuple[bytes, ...], values: tuple[Scalar, ...]) -> bytes:
    """The ``KeyValue`` fields (each tagged ``prefix``) of the ``keys`` whose value is not None,
    in order: what ``_otlp_fields.key_values`` writes in one C pass, when it is built."""
    parts: list[bytes] = []
    for key, value in zip(keys, values, strict=True):  # unpaired: ValueError, as the C writer raises
        if value is None:
            continue
        if isinstance(value, str):
            parts.append(str_attribute(prefix, key, value))
        elif isinstance(value, bool):
            parts.append(bool_attribute(prefix, key, value))
        elif isinstance(value, int):
            if not -(2**63) <= value < 2**63:
                raise OverflowError("key_values(): an int attribute is an int64")
            parts.append(int_attribute(prefix, key, value))
        elif isinstance(value, float):
            parts.append(double_attribute(prefix, key, value))
        else:
            raise TypeError(f"key_values() cannot write a {type(value).__name__} attribute")
    return b"".join(parts)


try:
    from ferrogate.observability._otlp_fields import key_values
except ImportError:  # not built (make compiled): the same bytes, in Python
    key_values = key_values_py


class Memo:
    """Encoded fields by the values they were made from, for the parts of a record that
    repeat across requests (model, provider, key, status...): most records then encode
    only their ids, times and counts. Bounded: emptied when full."""

    __slots__ = ("_entries", "limit")

    def __init__(self, limit: int = 4096) -> None:
        self._entries: dict[tuple[object, ...], bytes] = {}
        self.limit = limit

    def get(self, key: tuple[object, ...]) -> bytes | None:
        return self._entries.get(key)

    def put(self, key: tuple[object, ...], encoded: bytes) -> bytes:
        entries = self._entries
        if len(entries) >= self.limit:
            entries.clear()
        entries[key] = encoded
        return encoded


def scope(name: str, version: str | None = None) -> bytes:
    """An ``InstrumentationScope`` message body."""
    body = string_field(length_tag(1), name)
    if version:
        body += string_field(length_tag(2), version)
    return body


def resource(values: Mapping[str, AttributeValue]) -> bytes:
    """A ``Resource`` message body."""
    return attributes(length_tag(1), values)


def export_request(resource_body: bytes, scope_body: bytes, items_number: int, items: Sequence[bytes],
                   schema_url: str = "") -> bytes:
    """An OTLP export request holding one resource and one scope, and ``items``: the item
    messages' bodies (spans, log records or metrics), each the scope's field ``items_number``."""
    framed = frame_items(items_number, items)
    head, tail = export_envelope(resource_body, scope_body, len(framed), schema_url)
    return b"".join((head, framed, tail))


def frame_items(items_number: int, items: Sequence[bytes]) -> bytes:
    """Messages as the repeated field ``items_number``: each with its tag and length."""
    item_prefix = length_tag(items_number)
    framed: list[bytes] = []
    for item in items:
        framed += (item_prefix, varint(len(item)), item)
    return b"".join(framed)


def export_envelope(resource_body: bytes, scope_body: bytes, items_size: int, schema_url: str = "") -> tuple[bytes, bytes]:
    """What goes before and after ``items_size`` bytes of framed items to make an export request.

    Each signal's request has the same shape: ``Export*ServiceRequest { 1: Resource* {
    1: resource, 2: Scope* { 1: scope, <items_number>: item... } } }``.
    """
    scope_field = message_field(length_tag(1), scope_body)
    size = len(scope_field) + items_size
    scoped_head = length_tag(2) + varint(size)
    resourced_head = message_field(length_tag(1), resource_body) + scoped_head
    tail = string_field(length_tag(3), schema_url) if schema_url else b""
    resourced_size = len(resourced_head) + size + len(tail)
    return length_tag(1) + varint(resourced_size) + resourced_head + scope_field, tail
