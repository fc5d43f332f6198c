"""The node's Prometheus metrics, kept by the control process from what the workers report.

Why here and not prometheus-client's multiprocess mode: workers already send the
control process their request records in batches (for the request log and metering),
counted by the worker as it sends them (``record_counter``), and a heartbeat a second
with their response counts; the control process adds those up, so no worker touches
a metric on its hot path, and a respawned worker's counts live on (its last heartbeat
stays added in). Multiprocess mode would add a write to a memory-mapped file per
sample in every worker, and leave files of dead workers to clean up.

The counters are plain dicts keyed by label tuples; :meth:`GatewayMetrics.collect`
turns them into prometheus-client metric families at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ferrogate import __version__
from ferrogate.ipc.record_summary import MetricCounts
from ferrogate.ipc.request_records import PICO_PER_USD, RequestRecord
from ferrogate.observability import metric_names as M
from ferrogate.observability import record_counter as C
from ferrogate.observability.record_counter import Histogram, RecordCounter


class NodeView:
    """What a scrape reads from the control process's live state (gauges)."""

    def __init__(
        self,
        workers: Callable[[], Iterable[Any]],
        breakers: Callable[[], Iterable[tuple[str, str, str]]],
        restarts: Callable[[], int],
        node_id: str = "",
    ) -> None:
        self.node_id = node_id  # ferrogate_node_info: join it to any series on the scrape's instance
        self.workers = workers  # live worker reports (inflight, connections, streams, state)
        self.breakers = breakers  # (provider, provider_model, state) per target
        self.restarts = restarts


class GatewayMetrics(Collector):
    def __init__(self, models: Iterable[str], providers: Iterable[str], *, key_label: bool = False) -> None:
        self.key_label = key_label
        self.node: NodeView | None = None
        # (events sent, failed POSTs, events waiting) of the metering export, when it is on
        self.export_stats: Callable[[], tuple[int, int, int]] | None = None
        self.otlp_dropped: Callable[[], int] | None = None  # records the OTLP exporter dropped, when it is on
        # MCP tool calls by (server, tool, outcome), and (calls, seconds) by (server, tool)
        self.mcp_stats: Callable[[], tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], tuple[int, float]]]] | None = None
        self.totals = RecordCounter(models, providers, key_label=key_label)  # added to from workers' counts
        self._beats: dict[int, tuple[dict[int, int], int]] = {}  # pid -> (responses, records dropped)
        self._retired: tuple[dict[int, int], int] = ({}, 0)  # workers whose pid a new one took

    # -- feeding

    def heartbeat(self, pid: int, responses: dict[int, int], records_dropped: int) -> None:
        """A worker's totals since it started (the last one of a worker that died stays counted).

        Totals of one worker only grow; a beat with less than the last one under the same pid
        is a new worker that got a dead one's pid, so the dead one's totals move to the retired."""
        last = self._beats.get(pid)
        if last is not None and (records_dropped < last[1] or any(responses.get(c, 0) < n for c, n in last[0].items())):
            retired, lost = self._retired
            for code, n in last[0].items():
                retired[code] = retired.get(code, 0) + n
            self._retired = (retired, lost + last[1])
        self._beats[pid] = (responses, records_dropped)

    def add(self, counts: MetricCounts) -> None:
        """A worker's counts of one batch of records."""
        self.totals.add(counts)

    def observe(self, records: Iterable[RequestRecord]) -> None:
        """Count records here (what a worker does before it sends them)."""
        self.totals.observe(records)

    # -- scraping

    def collect(self) -> Iterator[Metric]:
        responses = dict(self._retired[0])
        dropped = self._retired[1]
        for counts, lost in self._beats.values():
            dropped += lost
            for code, n in counts.items():
                responses[code] = responses.get(code, 0) + n
        yield _counter(M.HTTP_RESPONSES, [((str(c),), n) for c, n in sorted(responses.items())])
        yield _counter(M.RECORDS_DROPPED, [((), dropped)])
        req_labels = M.REQUESTS.labels + (("key_id",) if self.key_label else ())
        counters = self.totals.counters
        hists = self.totals.histograms
        yield _counter(M.REQUESTS, counters[C.REQUESTS].items(), req_labels)
        yield _counter(M.TOKENS, counters[C.TOKENS].items())
        yield _counter(M.COST, ((k, v / PICO_PER_USD) for k, v in counters[C.COST_PICO].items()))
        yield _histogram(M.DURATION, hists[C.DURATION].items())
        yield _histogram(M.TTFT, hists[C.TTFT].items())
        yield _histogram(M.OVERHEAD, hists[C.OVERHEAD].items())
        yield _counter(M.UPSTREAM_ERRORS, counters[C.UPSTREAM_ERRORS].items())
        yield _counter(M.RETRIES, counters[C.RETRIES].items())
        yield _counter(M.FALLBACKS, counters[C.FALLBACKS].items())
        yield _counter(M.CACHE, counters[C.CACHE].items())
        yield _counter(M.CACHE_SAVED, [((), counters[C.SAVED_PICO].get((), 0) / PICO_PER_USD)])
        yield _counter(M.REJECTIONS, counters[C.REJECTIONS].items())
        node = self.node
        if node is not None:
            yield from self._node(node)
        if self.export_stats is not None:
            sent, failed, waiting = self.export_stats()
            yield _counter(M.METERING_EXPORTED, [((), sent)])
            yield _counter(M.METERING_FAILURES, [((), failed)])
            yield _gauge(M.METERING_OUTBOX, [((), waiting)])
        if self.otlp_dropped is not None:
            yield _counter(M.OTLP_DROPPED, [((), self.otlp_dropped())])
        if self.mcp_stats is not None:
            calls, seconds = self.mcp_stats()
            yield _counter(M.MCP_TOOL_CALLS, list(calls.items()))
            yield _counter(M.MCP_TOOL_SECONDS, [(k, total) for k, (_, total) in seconds.items()])

    def _node(self, node: NodeView) -> Iterator[Metric]:
        inflight = connections = streams = 0
        states: dict[str, int] = {}
        for w in node.workers():
            inflight += w.inflight
            connections += w.connections
            streams += w.streams
            states[w.state] = states.get(w.state, 0) + 1
        yield _gauge(M.INFLIGHT, [((), inflight)])
        yield _gauge(M.CONNECTIONS, [((), connections)])
        yield _gauge(M.STREAMS, [((), streams)])
        yield _gauge(M.WORKERS, (((s,), n) for s, n in sorted(states.items())))
        yield _gauge(M.NODE_INFO, [((node.node_id, __version__), 1)])
        rows = []
        for provider, model, state in node.breakers():
            for name in ("closed", "open", "half_open"):
                rows.append(((provider, model, name), 1 if name == state else 0))
        yield _gauge(M.BREAKER, rows)
        yield _counter(M.WORKER_RESTARTS, [((), node.restarts())])


def _counter(m: M.MetricName, rows: Iterable[tuple[tuple[str, ...], float]], labels: tuple[str, ...] | None = None) -> Metric:
    family = CounterMetricFamily(m.name, m.help, labels=list(labels or m.labels))
    for values, n in rows:
        family.add_metric(list(values), n)
    return family


def _gauge(m: M.MetricName, rows: Iterable[tuple[tuple[str, ...], float]]) -> Metric:
    family = GaugeMetricFamily(m.name, m.help, labels=list(m.labels))
    for values, n in rows:
        family.add_metric(list(values), n)
    return family


def _histogram(m: M.MetricName, rows: Iterable[tuple[tuple[str, ...], Histogram]]) -> Metric:
    family = HistogramMetricFamily(m.name, m.help, labels=list(m.labels))
    for values, h in rows:
        family.add_metric(list(values), h.buckets(), h.sum)
    return family
