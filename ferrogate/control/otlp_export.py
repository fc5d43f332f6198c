"""OTLP/HTTP export of traces, metrics and logs from the control process, off its event loop.

``submit_blob`` (called on the loop with each batch of encoded records, only when logs or
traces are exported) and ``submit_increments`` (each batch's GenAI histogram increments,
summed by its worker) only append to bounded queues. One thread, about once a second, writes
each batch's spans and log records straight from its msgpack to protobuf
(``observability.otlp_batch``), and POSTs them about ``BATCH_RECORDS`` records at a time:
the spans to ``<otlp_endpoint>/v1/traces`` and the logs to ``/v1/logs`` (``otlp_http``). It adds the increments to the GenAI histograms (``otlp_metrics``), which
go to ``/v1/metrics`` every 60 s (or ``OTEL_METRIC_EXPORT_INTERVAL`` ms). A full queue drops records and counts them
(``dropped``): telemetry must never hold up metering or serving. ``close`` sends what is
queued and the metrics, within its timeout.

The resource (``service.name``, the SDK's ``telemetry.sdk.*``, ``OTEL_RESOURCE_ATTRIBUTES``)
is the OpenTelemetry SDK's; the encoding is ours, because the SDK's instruments and
encoders cost about 200 us a record and one thread could not keep up with a busy gateway.

``OTEL_TRACES_EXPORTER``, ``OTEL_METRICS_EXPORTER`` and ``OTEL_LOGS_EXPORTER`` set to
``none`` turn a signal off (``config.otel_env``); the workers' sampler has already
marked the records whose spans are not wanted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from opentelemetry.sdk.resources import Resource

from ferrogate.config.model import Config
from ferrogate.config.otel_env import OtelSettings, otel_settings
from ferrogate.ipc.record_summary import GenAiIncrement, RecordBlob
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_batch import ItemBuffer, new_items, write_blob
from ferrogate.observability.otlp_http import OtlpHttp
from ferrogate.observability.otlp_metrics import (
    DURATION_POINT,
    METRICS_ITEMS,
    GenAiBatch,
    GenAiMetrics,
    KnownNames,
)
from ferrogate.observability.otlp_proto import AttributeValue
from ferrogate.observability.otlp_spans import SCOPE_NAME

_log = logging.getLogger("ferrogate.control.otlp")

MAX_QUEUED = 50_000
MAX_QUEUED_INCREMENTS = 10_000  # workers' batches of GenAI increments waiting for the thread
BATCH_RECORDS = 1024  # records per traces / logs request, about: workers' batches are not split
FLUSH_SECS = 1.0
EXPORT_TIMEOUT_SECS = 10.0
METRICS_INTERVAL_MS = 60_000


def metrics_interval(env: Mapping[str, str]) -> float:
    """Seconds between metrics exports: ``OTEL_METRIC_EXPORT_INTERVAL`` (ms) when it is a
    positive number, else 60."""
    try:
        millis = float(env.get("OTEL_METRIC_EXPORT_INTERVAL", METRICS_INTERVAL_MS))
    except ValueError:
        millis = METRICS_INTERVAL_MS
    return (millis if millis > 0 else METRICS_INTERVAL_MS) / 1000.0


class OtlpExport:
    """Owns the collector connection, the GenAI histograms and the thread that feeds them."""

    __slots__ = (
        "_blob_records_in", "_blob_records_out", "_blobs", "_closing_by", "_config", "_config_of", "_http",
        "_increments", "_log_items", "_log_memo", "_metrics", "_metrics_due", "_metrics_every", "_resource",
        "_schema_url", "_scope", "_signals", "_span_items", "_span_memo", "_stop", "_thread", "_unsummed", "_wake",
        "dropped", "exported",
    )

    def __init__(self, config_of: Callable[[], Config], env: Mapping[str, str] = os.environ) -> None:
        """``config_of`` gives the current config: the models and providers it names bound the metrics' labels."""
        config = config_of()
        telemetry = config.telemetry
        assert telemetry.otlp_endpoint is not None
        self._config_of = config_of
        self._config = config
        resource = Resource.create({"service.name": telemetry.service_name})
        values: dict[str, AttributeValue] = dict(resource.attributes)  # type: ignore[arg-type]
        self._resource = pb.resource(values)
        self._schema_url = resource.schema_url
        self._scope = pb.scope(SCOPE_NAME)
        self._span_memo = pb.Memo()
        self._log_memo = pb.Memo()
        self._log_items = new_items()  # kept from one export request to the next, with their capacity
        self._span_items = new_items()
        self._http = OtlpHttp(telemetry.otlp_endpoint, EXPORT_TIMEOUT_SECS, env)
        self._signals: OtelSettings = otel_settings(env)  # its warnings are the config loader's
        self._metrics = GenAiMetrics(KnownNames.of(config))
        self._metrics_every = metrics_interval(env)
        self._metrics_due = time.monotonic() + self._metrics_every
        self._blobs: deque[RecordBlob] = deque()  # workers' encoded records, written out by the thread
        self._blob_records_in = 0  # records of the blobs queued (written on the loop)
        self._blob_records_out = 0  # records of the blobs taken (written by the thread)
        self._increments: deque[list[GenAiIncrement]] = deque()
        self._unsummed: deque[RecordBlob] = deque()  # batches whose worker sent no increments
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closing_by = 0.0  # the monotonic deadline of the last sends, once closing
        self._thread = threading.Thread(target=self._run, name="ferrogate-otlp", daemon=True)
        self.dropped = 0
        self.exported = 0  # spans the collector accepted

    def start(self) -> None:
        self._thread.start()

    def _waiting(self) -> int:
        """Records queued (each counter is written by one thread only)."""
        return self._blob_records_in - self._blob_records_out

    def submit_blob(self, blob: RecordBlob) -> None:
        """Queue a worker's encoded records: the thread writes them out, off the event loop. A
        batch that does not fit is dropped and counted, never waited for."""
        if not blob.count:
            return
        waiting = self._waiting() + blob.count
        if waiting > MAX_QUEUED:
            self.dropped += blob.count
            return
        self._blob_records_in += blob.count
        self._blobs.append(blob)
        if waiting >= BATCH_RECORDS:
            self._wake.set()

    @property
    def wants_logs(self) -> bool:
        """Whether logs are exported: else the workers send apart the sampled records traces need."""
        return self._signals.logs

    @property
    def wants_records(self) -> bool:
        """Whether logs or traces are exported: else the records themselves are never needed."""
        return self._signals.logs or self._signals.traces

    def submit_increments(self, increments: list[GenAiIncrement]) -> None:
        """Queue a worker's batch of GenAI histogram increments; when too many wait, the batch
        is dropped and its records counted in ``dropped``."""
        if not self._signals.metrics or not increments:
            return
        if len(self._increments) >= MAX_QUEUED_INCREMENTS:
            self.dropped += sum(sum(i[2]) for i in increments if i[1] == DURATION_POINT)
            return
        self._increments.append(increments)

    def submit_unsummed(self, blob: RecordBlob) -> None:
        """Queue a batch whose worker sent no GenAI increments (one of an older version, during
        a rolling upgrade): the thread decodes and sums it, so its requests still count."""
        if not self._signals.metrics or not blob.count:
            return
        if len(self._increments) + len(self._unsummed) >= MAX_QUEUED_INCREMENTS:
            self.dropped += blob.count
            return
        self._unsummed.append(blob)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued and the metrics, giving up after about ``timeout`` seconds: a
        collector that does not answer must not hold up the control process's exit."""
        self._closing_by = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread.ident is None:  # never started: send from here
            self._finish()
            return
        self._thread.join(timeout + 0.5)
        if self._thread.is_alive():
            _log.warning("OTLP export: gave up flushing at shutdown after %.0f s", timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_SECS)
            self._wake.clear()
            self._follow_config()
            self._send_queued()
            if time.monotonic() >= self._metrics_due:
                self._metrics_due = time.monotonic() + self._metrics_every
                self._send_metrics()
        self._finish()

    def _finish(self) -> None:
        try:
            self._send_queued()
            self._send_metrics()
        finally:
            self._http.close()

    def _deadline(self) -> float:
        return self._closing_by if self._stop.is_set() else time.monotonic() + EXPORT_TIMEOUT_SECS

    def _follow_config(self) -> None:
        """After a reload, models and providers the new config names count under their own names."""
        config = self._config_of()
        if config is not self._config:
            self._config = config
            self._metrics.follow(KnownNames.of(config))

    def _add_increments(self) -> None:
        increments, unsummed = self._increments, self._unsummed
        now_ns = time.time_ns()
        while increments or unsummed:
            try:
                if increments:
                    self._metrics.add(increments.popleft(), now_ns)
                else:
                    self._metrics.add(GenAiBatch().observe(unsummed.popleft().records()), now_ns)
            except Exception:  # one odd batch must not stop the others' metrics
                _log.exception("OTLP export skipped a batch of metric increments")

    def _send_queued(self) -> None:
        self._add_increments()
        blobs = self._blobs
        logs = self._log_items if self._signals.logs else None
        spans = self._span_items if self._signals.traces else None
        taken = 0  # records written since the last POST
        while blobs:
            blob = blobs.popleft()
            try:
                write_blob(blob, time.time_ns(), logs, spans, self._log_memo, self._span_memo)
            except Exception:  # a batch that does not decode must not stop the others' telemetry
                _log.exception("OTLP export skipped a batch of %d records it could not decode", blob.count)
            finally:
                self._blob_records_out += blob.count
            taken += blob.count
            if taken >= BATCH_RECORDS or not blobs:
                taken = 0
                self._post_pending(logs, spans)
                if time.monotonic() >= self._deadline():
                    return

    def _post_pending(self, logs: ItemBuffer | None, spans: ItemBuffer | None) -> None:
        if logs is not None and logs.count:
            self._post("logs", self._request(logs))
        if spans is not None and spans.count:
            count = spans.count
            if self._post("traces", self._request(spans)):
                self.exported += count

    def _request(self, items: ItemBuffer) -> bytes:
        head, tail = pb.export_envelope(self._resource, self._scope, items.size, self._schema_url)
        return items.take(head, tail)

    def _send_metrics(self) -> None:
        if not self._signals.metrics:
            return
        self._add_increments()
        messages = self._metrics.messages(time.time_ns())
        if messages:
            self._post("metrics", pb.export_request(self._resource, self._scope, METRICS_ITEMS, messages,
                                                    self._schema_url))

    def _post(self, signal: str, payload: bytes) -> bool:
        return self._http.post(signal, payload, self._deadline())
