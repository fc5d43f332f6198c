"""A worker's batch of request records as OTLP log records and spans, framed for export.

The control process gets each batch as the msgpack its worker encoded
(``ipc.record_summary.RecordBlob``). With ``_otlp_fields`` built, one C call reads that
msgpack and writes every record's log record and spans, with the GIL released: no record
becomes Python objects, and the event loop runs meanwhile. The records the C writer leaves
(values the Python writers handle differently, a record of another worker version's shape)
are decoded and written in Python, as every record is when the module is not built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, Protocol

from ferrogate.ipc.record_summary import RecordBlob
from ferrogate.ipc.request_records import RECORD_FIELDS, RequestRecord
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_logs import LOG_INDEX, LOGS_ITEMS, log_message
from ferrogate.observability.otlp_spans import (
    OPERATIONS,
    SPAN_INDEX,
    TOOL_ENDPOINT,
    TRACES_ITEMS,
    span_messages,
)

try:
    from ferrogate.observability import _otlp_fields as native
except ImportError:  # not built (make compiled): every record takes the Python writers
    native = None  # type: ignore[assignment]

_log = logging.getLogger("ferrogate.control.otlp")

# What the C writer needs to know of a record (``_otlp_fields.batch_messages``).
LAYOUT: Final = (
    len(RECORD_FIELDS), LOG_INDEX, SPAN_INDEX, RECORD_FIELDS.index("endpoint"),
    tuple((endpoint, operation, path) for endpoint, (operation, path) in OPERATIONS.items()), TOOL_ENDPOINT,
)


class ItemBuffer(Protocol):
    """Framed items of one signal waiting for their export request: ``_otlp_fields.Items``, or
    :class:`PythonItems` when it is not built."""

    @property
    def count(self) -> int: ...

    @property
    def size(self) -> int: ...

    def add(self, chunk: bytes, count: int, /) -> None: ...

    def take(self, head: bytes, tail: bytes, /) -> bytes: ...


class PythonItems:
    """``_otlp_fields.Items`` when it is not built: framed items of one signal waiting for
    their export request, and how many."""

    __slots__ = ("_chunks", "count", "size")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.count = 0
        self.size = 0

    def add(self, chunk: bytes, count: int) -> None:
        self._chunks.append(chunk)
        self.count += count
        self.size += len(chunk)

    def take(self, head: bytes, tail: bytes) -> bytes:
        """``head`` + the items + ``tail``; the items are then gone."""
        out = b"".join([head, *self._chunks, tail])
        self._chunks, self.count, self.size = [], 0, 0
        return out


def new_items() -> ItemBuffer:
    return PythonItems() if native is None else native.Items()


def write_blob(blob: RecordBlob, observed_ns: int, logs: ItemBuffer | None, spans: ItemBuffer | None,
               log_memo: pb.Memo, span_memo: pb.Memo) -> None:
    """Add the batch's log records to ``logs`` and its spans to ``spans`` (None: that signal is
    not exported). Raises when the batch does not decode; a record that cannot be written is
    logged and skipped."""
    left: Sequence[int] | None = None
    if native is not None:  # the items are new_items()'s: native.Items
        try:
            left = native.batch_messages(blob.data, LAYOUT, observed_ns, logs, spans)  # type: ignore[arg-type]
        except ValueError:  # not the msgpack the C reader knows: msgspec decides
            left = None
        if left is not None and not left:
            return
    records = blob.records()
    write_records(records if left is None else [records[i] for i in left], observed_ns, logs, spans,
                  log_memo, span_memo)


def write_records(records: Sequence[RequestRecord], observed_ns: int, logs: ItemBuffer | None, spans: ItemBuffer | None,
                  log_memo: pb.Memo, span_memo: pb.Memo) -> None:
    """:func:`write_blob` for decoded records, one by one."""
    log_items: list[bytes] = []
    span_items: list[bytes] = []
    for record in records:
        try:
            log = log_message(record, observed_ns, log_memo) if logs is not None else None
            record_spans = span_messages(record, span_memo) if spans is not None else []
        except Exception:  # one odd record must not stop the others' telemetry
            _log.exception("OTLP export skipped a record")
            continue
        if log is not None:
            log_items.append(log)
        span_items += record_spans
    if logs is not None and log_items:
        logs.add(pb.frame_items(LOGS_ITEMS, log_items), len(log_items))
    if spans is not None and span_items:
        spans.add(pb.frame_items(TRACES_ITEMS, span_items), len(span_items))
