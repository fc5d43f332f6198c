"""OTLP/HTTP export of traces, metrics and logs from the control process, off its event loop.

``submit`` (called on the loop with each batch of records) only appends to a bounded
queue; one thread takes the records and, per record, builds its spans
(``observability.otlp_spans``), adds it to the GenAI metrics (``otlp_metrics``) and emits
its log (``otlp_logs``), ``BATCH_RECORDS`` records at a time about once a second. The
spans and the logs of each batch go out from that thread with the SDK's OTLP/HTTP
exporters to ``<otlp_endpoint>/v1/traces`` and ``/v1/logs`` (the logs through a
``BatchLogRecordProcessor`` flushed after each batch, so a burst never overflows its
queue); metrics with a ``PeriodicExportingMetricReader`` to ``/v1/metrics`` (every 60 s,
or ``OTEL_METRIC_EXPORT_INTERVAL`` ms). A full queue drops records and counts them
(``dropped``): telemetry must never hold up metering or serving. ``close`` sends what is
queued and flushes all three.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from ferrogate.config.model import Config
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability import otlp_logs
from ferrogate.observability.otlp_metrics import GenAiMetrics, KnownNames
from ferrogate.observability.otlp_spans import SCOPE, spans_of

_log = logging.getLogger("ferrogate.control.otlp")

MAX_QUEUED = 50_000
BATCH_RECORDS = 512  # the log processor's export batch: one flush sends a batch's logs in one request
FLUSH_SECS = 1.0
EXPORT_TIMEOUT_SECS = 10.0


class OtlpExport:
    """Owns the three signals' exporters and the thread that feeds them."""

    __slots__ = (
        "_config", "_config_of", "_logger", "_logs", "_meters", "_metrics", "_queue", "_resource", "_spans",
        "_stop", "_thread", "_wake", "dropped", "exported",
    )

    def __init__(self, config_of: Callable[[], Config]) -> None:
        """``config_of`` gives the current config: the models and providers it names bound the metrics' labels."""
        config = config_of()
        telemetry = config.telemetry
        assert telemetry.otlp_endpoint is not None
        base = telemetry.otlp_endpoint.rstrip("/")
        self._config_of = config_of
        self._config = config
        self._resource = Resource.create({"service.name": telemetry.service_name})
        self._spans = OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=EXPORT_TIMEOUT_SECS)
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=EXPORT_TIMEOUT_SECS)
        )
        self._meters = MeterProvider(metric_readers=[reader], resource=self._resource, shutdown_on_exit=False)
        self._metrics = GenAiMetrics(self._meters.get_meter(SCOPE.name), KnownNames.of(config))
        self._logs = LoggerProvider(resource=self._resource, shutdown_on_exit=False)
        self._logs.add_log_record_processor(
            BatchLogRecordProcessor(
                OTLPLogExporter(endpoint=f"{base}/v1/logs", timeout=EXPORT_TIMEOUT_SECS),
                max_export_batch_size=BATCH_RECORDS,
            )
        )
        self._logger = self._logs.get_logger(SCOPE.name)
        self._queue: deque[RequestRecord] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ferrogate-otlp", daemon=True)
        self.dropped = 0
        self.exported = 0  # spans the collector accepted

    def start(self) -> None:
        self._thread.start()

    def submit(self, records: list[RequestRecord]) -> None:
        """Queue ``records`` for the thread; what does not fit is dropped and counted, never waited for."""
        room = MAX_QUEUED - len(self._queue)
        if room < len(records):
            self.dropped += len(records) - max(room, 0)
            records = records[: max(room, 0)]
        self._queue.extend(records)
        if len(self._queue) >= BATCH_RECORDS:
            self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued and flush the metrics and logs, giving up after about ``timeout``
        seconds: a collector that does not answer must not hold up the control process's exit."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        flush = threading.Thread(target=self._flush, args=(timeout,), name="ferrogate-otlp-flush", daemon=True)
        flush.start()
        flush.join(max(deadline - time.monotonic(), 0.1))
        if flush.is_alive():
            _log.warning("OTLP export: gave up flushing at shutdown after %.0f s", timeout)

    def _flush(self, timeout: float) -> None:
        try:  # each shutdown exports what it holds: the queued logs, the metrics' last collection
            self._logs.shutdown()
            self._meters.shutdown(timeout_millis=timeout * 1000)
        except Exception:  # a collector that went away must not stop the control process
            _log.exception("OTLP flush at shutdown failed")
        self._spans.shutdown()

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECS)
            self._wake.clear()
            self._follow_config()
            self._send_queued()
            if self._stop.is_set():
                self._send_queued()
                return

    def _follow_config(self) -> None:
        """After a reload, models and providers the new config names count under their own names."""
        config = self._config_of()
        if config is not self._config:
            self._config = config
            self._metrics.names = KnownNames.of(config)

    def _send_queued(self) -> None:
        queue = self._queue
        while queue:
            spans: list[ReadableSpan] = []
            for _ in range(min(BATCH_RECORDS, len(queue))):
                record = queue.popleft()
                try:
                    self._metrics.record(record)
                    otlp_logs.emit(self._logger, record)
                    spans.extend(spans_of(record, self._resource))
                except Exception:  # one odd record must not stop the others' telemetry
                    _log.exception("OTLP export skipped a record")
            self._logs.force_flush()  # exports the batch's logs from this thread
            if spans and not self._export(spans):
                return

    def _export(self, spans: list[ReadableSpan]) -> bool:
        try:
            result = self._spans.export(spans)
        except Exception:  # the SDK raises on some transport failures; tracing goes on
            _log.exception("OTLP trace export failed")
            return False
        if result.name != "SUCCESS":
            _log.warning("OTLP trace export of %d spans failed", len(spans))
            return False
        self.exported += len(spans)
        return True
