"""A batch of request records as a worker sends it: encoded once, summed once.

The worker encodes its batch's records (all of them for the request log, the billed
ones for the metering events) and sums them (usage rows per hour and day in
``ipc.usage_sums``, metric counts) before sending; the control process stores the encoded bytes as they came
and adds the sums, decoding records only when something needs them one by one (the
OTLP exporter, an admin read, the metering export). Records are encoded as one
msgpack array, so two blobs join by rewriting the array header alone.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

import msgspec

from ferrogate.ipc.request_records import RECORD_FIELDS, RecordFields, RequestRecord

_ENCODE = msgspec.msgpack.Encoder()
_DECODE = msgspec.msgpack.Decoder(list[RequestRecord])


# The kind of request a GenAI histogram increment is for: endpoint, provider, caller's model,
# provider model, error code, status (the record's values; the control process bounds them).
GenAiSeries = tuple[str, str | None, str | None, str | None, str | None, int]
# One increment: the series, the histogram point (``otlp_metrics.POINT_KINDS``), bucket counts,
# sum, min and max of what the batch added.
GenAiIncrement = tuple[GenAiSeries, int, list[int], float, float, float]


class MetricCounts(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Counter and histogram increments by table index (``observability.record_counter``), and
    the OTLP GenAI histograms' increments when the worker exports OTLP metrics
    (``observability.otlp_metrics.GenAiBatch``)."""

    counters: list[tuple[int, tuple[str, ...], int]] = []
    histograms: list[tuple[int, tuple[str, ...], list[int], float]] = []
    genai: list[GenAiIncrement] = []


class RecordBlob(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Records encoded as one msgpack array, with what a store row needs to know of them."""

    count: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    data: bytes = b"\x90"  # an empty array

    def records(self) -> list[RequestRecord]:
        return _DECODE.decode(self.data)


_AT: Final = RECORD_FIELDS.index("at")


def encode_fields(records: Sequence[RecordFields]) -> RecordBlob:
    """:func:`encode_blob` for records built as their fields' tuples (a worker's): the same
    bytes as the records themselves."""
    return _blob(records, [r[_AT] for r in records])


def _blob(records: Sequence[RequestRecord] | Sequence[RecordFields], ats: list[float]) -> RecordBlob:
    if not records:
        return RecordBlob()
    return RecordBlob(len(records), min(ats), max(ats), _ENCODE.encode(records))


def encode_blob(records: list[RequestRecord]) -> RecordBlob:
    return _blob(records, [r.at for r in records])


def join_blobs(blobs: list[RecordBlob]) -> RecordBlob:
    """One blob holding every record of ``blobs``, in order (no record is decoded)."""
    blobs = [b for b in blobs if b.count]
    if not blobs:
        return RecordBlob()
    if len(blobs) == 1:
        return blobs[0]
    count = sum(b.count for b in blobs)
    head = bytes([0x90 | count]) if count < 16 else (
        b"\xdc" + struct.pack(">H", count) if count < 1 << 16 else b"\xdd" + struct.pack(">I", count))
    body: list[bytes | memoryview] = [head]
    for b in blobs:
        body.append(memoryview(b.data)[_header_size(b.data):])
    return RecordBlob(count, min(b.first_at for b in blobs), max(b.last_at for b in blobs), b"".join(body))


def _header_size(data: bytes) -> int:
    tag = data[0]
    if tag & 0xF0 == 0x90:
        return 1
    if tag == 0xDC:
        return 3
    if tag == 0xDD:
        return 5
    raise ValueError("not a msgpack array")
