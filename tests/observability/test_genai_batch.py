"""The OTLP GenAI histograms are summed by each worker per batch (``GenAiBatch``) and added up
by the control process (``GenAiMetrics.add``): the same histograms as adding every record on
its own. The records themselves are decoded only for logs and traces, and for traces alone,
only the sampled ones the worker sends apart."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import astuple, replace
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from ferrogate import ipc
from ferrogate.config.model import Config, Telemetry
from ferrogate.control.otlp_export import OtlpExport
from ferrogate.control.record_sink import RecordSink
from ferrogate.ipc.record_summary import MetricCounts, RecordBlob
from ferrogate.ipc.request_records import RecordFields, RequestRecord
from ferrogate.observability.gateway_metrics import GatewayMetrics
from ferrogate.observability.otlp_metrics import (
    DURATION_POINT,
    GenAiBatch,
    GenAiMetrics,
    KnownNames,
)
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.observability.request_tally import RequestTally
from tests.support.record_strategies import records

NAMES = KnownNames(["m"], ["up"], ["pm"])
CONFIG = Config(telemetry=Telemetry(otlp_endpoint="http://127.0.0.1:9"))


def _record(n: int, **fields: object) -> RequestRecord:
    base: dict[str, object] = dict(event_id=f"e{n}", at=1_700_000_000.0, request_id=f"r{n}", endpoint="chat",
                                   status=200, duration_ms=10.0 * n, overhead_ms=0.1, model="m", provider="up",
                                   provider_model="pm", usage_source="provider", input_tokens=n, output_tokens=2 * n)
    base.update(fields)
    return RequestRecord(**base)  # type: ignore[arg-type]


def _eighths(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 125) * 125.0


def _exact_times(record: RequestRecord) -> RequestRecord:
    """The record with its times in whole eighths of a second, whose sums are exact whatever the
    grouping: a float sum's last bit depends on the order it is added in, which batching changes."""
    attempts = tuple(replace(a, start_ms=_eighths(a.start_ms), duration_ms=_eighths(a.duration_ms))
                     for a in record.attempt_log)
    return replace(record, duration_ms=_eighths(record.duration_ms), overhead_ms=_eighths(record.overhead_ms),
                   ttft_ms=_eighths(record.ttft_ms), attempt_log=attempts)


@settings(max_examples=100, deadline=None)
@given(st.lists(records.map(_exact_times), min_size=1, max_size=40), st.integers(min_value=1, max_value=5))
def test_a_batch_summed_by_a_worker_adds_up_to_its_records_added_one_by_one(batch: list[RequestRecord],
                                                                            batches: int) -> None:
    one_by_one, summed = GenAiMetrics(NAMES), GenAiMetrics(NAMES)
    for record in batch:
        one_by_one.add(GenAiBatch().observe([record]), 1)
    size = -(-len(batch) // batches)
    for start in range(0, len(batch), size):
        summed.add(GenAiBatch().observe(batch[start:start + size]), 1)
    assert summed.messages(2) == one_by_one.messages(2)


def test_a_batch_sends_one_increment_per_point_with_its_sum_min_and_max() -> None:
    increments = GenAiBatch().observe([_record(1), _record(2), _record(3)])
    (duration,) = [i for i in increments if i[1] == DURATION_POINT]
    series, _, buckets, total, low, high = duration
    assert series == ("chat", "up", "m", "pm", None, 200)
    assert (sum(buckets), round(total, 9), low, high) == (3, 0.06, 0.01, 0.03)


def test_an_increment_of_another_shape_is_not_added() -> None:
    metrics = GenAiMetrics(NAMES)
    (duration,) = [i for i in GenAiBatch().observe([_record(1)]) if i[1] == DURATION_POINT]
    series, kind, buckets, total, low, high = duration
    metrics.add([(series, kind, [*buckets, 1], total, low, high), (series, 99, buckets, total, low, high)], 1)
    assert b"gen_ai.client.operation.duration" not in b"".join(metrics.messages(2))  # no count was added


def test_a_worker_exporting_otlp_metrics_sends_its_batchs_increments() -> None:
    queue = RecordQueue(RequestTally(), genai=True)
    batch = queue.pack(_fields([_record(1), _record(2)]), pid=1)
    assert sum(sum(i[2]) for i in batch.counts.genai if i[1] == DURATION_POINT) == 2


def test_a_worker_not_exporting_otlp_metrics_sends_none() -> None:
    assert RecordQueue(RequestTally()).pack(_fields([_record(1)]), pid=1).counts.genai == []


def _sink() -> RecordSink:
    return RecordSink(Config(), ":memory:", GatewayMetrics([], []))


def test_the_sink_hands_the_increments_to_the_exporter_without_decoding_the_records() -> None:
    sink, got = _sink(), []
    sink.on_increments = got.append
    increments = GenAiBatch().observe([_record(1)])
    not_msgpack = RecordBlob(1, 0.0, 0.0, b"\xc1")  # would fail to decode
    sink.accept(ipc.RecordBatch(pid=1, logs=not_msgpack, events=RecordBlob(),
                                counts=MetricCounts(genai=increments)))
    assert got == [increments]


def test_the_sink_hands_a_batch_its_worker_did_not_sum_to_the_exporter_to_sum() -> None:
    sink, summed, unsummed = _sink(), [], []
    sink.on_increments, sink.on_unsummed = summed.append, unsummed.append
    older = RecordQueue(RequestTally()).pack(_fields([_record(1)]), pid=1)  # a worker not summing: an older version's
    sink.accept(older)
    assert (summed, unsummed) == ([], [older.logs])


def test_the_exporter_sums_a_batch_its_worker_did_not_as_the_worker_would_have() -> None:
    batch = [_record(1), _record(2, status=500, error_code="upstream_error")]
    by_worker, by_exporter = OtlpExport(lambda: CONFIG, {}), OtlpExport(lambda: CONFIG, {})
    by_worker.submit_increments(RecordQueue(RequestTally(), genai=True).pack(_fields(batch), pid=1).counts.genai)
    by_exporter.submit_unsummed(RecordQueue(RequestTally()).pack(_fields(batch), pid=1).logs)
    for exporter in (by_worker, by_exporter):
        exporter._add_increments()
    summed = [_timeless(m) for m in by_exporter._metrics.messages(2)]
    assert "gen_ai.client.operation.duration" in [m.name for m in summed]
    assert summed == [_timeless(m) for m in by_worker._metrics.messages(2)]


def _timeless(message: bytes) -> Metric:
    """A metric without its points' start times (when each exporter first saw the series)."""
    metric = Metric.FromString(message)
    for point in metric.histogram.data_points:
        point.start_time_unix_nano = 0
    return metric


def test_an_exporter_not_sending_metrics_queues_no_batch_to_sum() -> None:
    exporter = OtlpExport(lambda: CONFIG, {"OTEL_METRICS_EXPORTER": "none"})
    exporter.submit_unsummed(RecordQueue(RequestTally()).pack(_fields([_record(1)]), pid=1).logs)
    assert not exporter._unsummed


def test_the_exporter_wants_records_only_for_logs_or_traces() -> None:
    def exporter(**env: str) -> OtlpExport:
        return OtlpExport(lambda: CONFIG, env)

    assert exporter().wants_records
    assert exporter(OTEL_LOGS_EXPORTER="none").wants_records
    assert not exporter(OTEL_LOGS_EXPORTER="none", OTEL_TRACES_EXPORTER="none").wants_records


def test_a_worker_exporting_traces_without_logs_sends_the_sampled_records_apart() -> None:
    queue = RecordQueue(RequestTally(), traced_apart=True)
    batch = queue.pack(_fields([_record(1, trace_sampled=True), _record(2, trace_sampled=False)]), pid=1)
    assert batch.traced is not None and [r.request_id for r in batch.traced.records()] == ["r1"]
    assert batch.logs.count == 2


def test_a_batch_whose_records_are_all_sampled_is_not_sent_twice() -> None:
    batch = RecordQueue(RequestTally(), traced_apart=True).pack(_fields([_record(1, trace_sampled=True)]), pid=1)
    assert batch.traced is None  # the control process reads them from the log's blob


def test_a_worker_exporting_logs_sends_no_records_apart() -> None:
    assert RecordQueue(RequestTally()).pack(_fields([_record(1, trace_sampled=False)]), pid=1).traced is None


def _fields(records: list[RequestRecord]) -> list[RecordFields]:
    """Records as a worker queues them: their fields' tuples."""
    return [astuple(r) for r in records]


def _batch(*records: RequestRecord) -> ipc.RecordBatch:
    return RecordQueue(RequestTally(), traced_apart=True).pack(_fields(list(records)), pid=1)


def test_a_sink_for_traces_alone_decodes_only_the_records_sent_apart() -> None:
    sink, got = _sink(), []
    sink.on_blob, sink.only_traced = lambda blob: got.extend(blob.records()), True
    sink.accept(_batch(_record(1, trace_sampled=False), _record(2, trace_sampled=True)))
    assert [r.request_id for r in got] == ["r2"]


def test_a_sink_for_logs_gets_every_record_even_when_some_were_sent_apart() -> None:
    sink, got = _sink(), []
    sink.on_blob = lambda blob: got.extend(blob.records())
    sink.accept(_batch(_record(1, trace_sampled=False), _record(2, trace_sampled=True)))
    assert [r.request_id for r in got] == ["r1", "r2"]
