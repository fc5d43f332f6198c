"""OTLP/HTTP trace export from the control process, off its event loop.

``submit`` (called on the loop with each batch of records) only appends to a bounded
queue; one thread turns records into spans (``observability.otlp_spans``) and sends
them with the SDK's OTLP/HTTP exporter to ``<telemetry.otlp_endpoint>/v1/traces`` in
batches of up to ``BATCH_SPANS`` about once a second. A full queue drops records and
counts them (``dropped``): tracing must never hold up metering or serving.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from ferrogate.config.model import Telemetry
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability.otlp_spans import spans_of

_log = logging.getLogger("ferrogate.control.otlp")

MAX_QUEUED = 50_000
BATCH_SPANS = 1024
FLUSH_SECS = 1.0
EXPORT_TIMEOUT_SECS = 10.0


class SpanExport:
    __slots__ = ("_exporter", "_queue", "_resource", "_stop", "_thread", "_wake", "dropped", "exported")

    def __init__(self, telemetry: Telemetry) -> None:
        assert telemetry.otlp_endpoint is not None
        base = telemetry.otlp_endpoint.rstrip("/")
        self._exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=EXPORT_TIMEOUT_SECS)
        self._resource = Resource.create({"service.name": telemetry.service_name})
        self._queue: deque[RequestRecord] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ferrogate-otlp", daemon=True)
        self.dropped = 0
        self.exported = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, records: list[RequestRecord]) -> None:
        room = MAX_QUEUED - len(self._queue)
        if room < len(records):
            self.dropped += len(records) - max(room, 0)
            records = records[: max(room, 0)]
        self._queue.extend(r for r in records if r.trace_id is not None)
        if len(self._queue) >= BATCH_SPANS:
            self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (within ``timeout``), then stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._exporter.shutdown()

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECS)
            self._wake.clear()
            self._send_queued()
            if self._stop.is_set():
                self._send_queued()
                return

    def _send_queued(self) -> None:
        while self._queue:
            spans: list[ReadableSpan] = []
            while self._queue and len(spans) < BATCH_SPANS:
                spans.extend(spans_of(self._queue.popleft(), self._resource))
            if not spans:
                return
            try:
                result = self._exporter.export(spans)
            except Exception:  # the SDK raises on some transport failures; tracing goes on
                _log.exception("OTLP trace export failed")
                return
            if result.name != "SUCCESS":
                _log.warning("OTLP trace export of %d spans failed", len(spans))
                return
            self.exported += len(spans)
