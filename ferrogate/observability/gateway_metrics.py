"""The node's Prometheus metrics, kept by the control process from what the workers report.

Why here and not prometheus-client's multiprocess mode: workers already send the
control process one record per AI request (for the request log and metering) and a
heartbeat a second with their response counts, so the control process can count
everything without a worker touching a metric on its hot path, and a respawned
worker's counts live on (its last heartbeat stays added in). Multiprocess mode would
add a write to a memory-mapped file per sample in every worker, and leave files of
dead workers to clean up.

The counters are plain dicts keyed by label tuples; :meth:`GatewayMetrics.collect`
turns them into prometheus-client metric families at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ferrogate.ipc.request_records import PICO_PER_USD, RequestRecord
from ferrogate.observability import metric_names as M


class Histogram:
    """Bucket counts of one label set (``counts[i]``: observations ≤ ``bounds[i]``, not cumulative)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((_bound(bound), running))
        out.append(("+Inf", self.count))
        return out


def _bound(value: float) -> str:
    return repr(float(value))


class _Series:
    __slots__ = ("cost_key", "duration", "labels", "model", "overhead", "provider", "token_keys", "ttft")

    def __init__(self, model: str, provider: str, duration: Histogram, ttft: Histogram, overhead: Histogram) -> None:
        self.model = model
        self.provider = provider
        self.duration = duration
        self.ttft = ttft
        self.overhead = overhead
        self.labels: dict[int, tuple[str, ...]] = {}  # status -> ferrogate_requests_total labels
        self.token_keys = tuple((model, provider, d) for d in ("input", "output", "cached", "reasoning"))
        self.cost_key = (model, provider)


class NodeView:
    """What a scrape reads from the control process's live state (gauges)."""

    def __init__(
        self,
        workers: Callable[[], Iterable[Any]],
        breakers: Callable[[], Iterable[tuple[str, str, str]]],
        restarts: Callable[[], int],
    ) -> None:
        self.workers = workers  # live worker reports (inflight, connections, streams, state)
        self.breakers = breakers  # (provider, provider_model, state) per target
        self.restarts = restarts


class GatewayMetrics(Collector):
    def __init__(self, models: Iterable[str], providers: Iterable[str], *, key_label: bool = False) -> None:
        self.models = frozenset(models)
        self.providers = frozenset(providers)
        self.key_label = key_label
        self.node: NodeView | None = None
        # (events sent, failed POSTs, events waiting) of the metering export, when it is on
        self.export_stats: Callable[[], tuple[int, int, int]] | None = None
        self._series: dict[tuple[str, str | None, str | None], _Series] = {}
        self._beats: dict[int, tuple[dict[int, int], int]] = {}  # pid -> (responses, records dropped)
        self._retired: tuple[dict[int, int], int] = ({}, 0)  # workers whose pid a new one took
        self.requests: dict[tuple[str, ...], int] = {}
        self.tokens: dict[tuple[str, str, str], int] = {}
        self.cost_pico: dict[tuple[str, str], int] = {}
        self.duration: dict[tuple[str, str], Histogram] = {}
        self.ttft: dict[tuple[str, str], Histogram] = {}
        self.overhead: dict[str, Histogram] = {}
        self.upstream_errors: dict[tuple[str, str], int] = {}
        self.retries: dict[str, int] = {}
        self.fallbacks: dict[str, int] = {}
        self.cache: dict[str, int] = {}
        self.saved_pico = 0
        self.rejections: dict[str, int] = {}

    def follow_config(self, models: Iterable[str], providers: Iterable[str], *, key_label: bool) -> None:
        self.models = frozenset(models)
        self.providers = frozenset(providers)
        self.key_label = key_label
        self._series.clear()

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

    def observe(self, records: Iterable[RequestRecord]) -> None:
        series = self._series
        requests = self.requests
        tokens = self.tokens
        key_label = self.key_label
        for r in records:
            ident = (r.endpoint, r.model, r.provider)
            one = series.get(ident)
            if one is None:
                one = series[ident] = self._new_series(r)
            status = r.status
            labels = one.labels.get(status) if not key_label else None
            if labels is None:
                labels = (r.endpoint, one.model, one.provider, f"{status // 100}xx" if status else "none")
                if key_label:
                    labels += (r.key_id or "",)
                else:
                    one.labels[status] = labels
            requests[labels] = requests.get(labels, 0) + 1
            if r.input_tokens or r.output_tokens:
                keys = one.token_keys
                tokens[keys[0]] = tokens.get(keys[0], 0) + r.input_tokens
                tokens[keys[1]] = tokens.get(keys[1], 0) + r.output_tokens
                if r.cached_tokens:
                    tokens[keys[2]] = tokens.get(keys[2], 0) + r.cached_tokens
                if r.reasoning_tokens:
                    tokens[keys[3]] = tokens.get(keys[3], 0) + r.reasoning_tokens
            if r.cost_pico:
                _inc(self.cost_pico, one.cost_key, r.cost_pico)
            one.duration.observe(r.duration_ms / 1000.0)
            if r.ttft_ms is not None:
                one.ttft.observe(r.ttft_ms / 1000.0)
            one.overhead.observe(r.overhead_ms / 1000.0)
            if r.attempt_log:
                self._attempts(r, one.model)
            if r.cache is not None:
                _inc(self.cache, r.cache, 1)
            if r.saved_cost_pico:
                self.saved_pico += r.saved_cost_pico
            if r.error_code is not None:
                reason = M.REJECTION_CODES.get(r.error_code)
                if reason is not None:
                    _inc(self.rejections, reason, 1)

    def _new_series(self, r: RequestRecord) -> _Series:
        """Labels and histograms of one (endpoint, model, provider), resolved once."""
        model = r.model if r.model in self.models else ("other" if r.model else "")
        provider = r.provider if r.provider in self.providers else ""
        return _Series(
            model,
            provider,
            _hist(self.duration, (r.endpoint, model), M.LATENCY_BUCKETS),
            _hist(self.ttft, (r.endpoint, model), M.LATENCY_BUCKETS),
            _hist(self.overhead, r.endpoint, M.OVERHEAD_BUCKETS),
        )

    def _attempts(self, r: RequestRecord, model: str) -> None:
        log = r.attempt_log
        if not log:
            return
        previous = None
        for a in log:
            provider = a.provider if a.provider in self.providers else ""
            if a.error_kind is not None:
                _inc(self.upstream_errors, (provider, a.error_kind), 1)
            if previous == (a.provider, a.provider_model):
                _inc(self.retries, provider, 1)
            previous = (a.provider, a.provider_model)
        if r.status < 400 and r.provider is not None and r.provider != log[0].provider:
            _inc(self.fallbacks, model, 1)

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
        yield _counter(M.REQUESTS, self.requests.items(), req_labels)
        yield _counter(M.TOKENS, self.tokens.items())
        yield _counter(M.COST, ((k, v / PICO_PER_USD) for k, v in self.cost_pico.items()))
        yield _histogram(M.DURATION, self.duration.items())
        yield _histogram(M.TTFT, self.ttft.items())
        yield _histogram(M.OVERHEAD, (((k,), h) for k, h in self.overhead.items()))
        yield _counter(M.UPSTREAM_ERRORS, self.upstream_errors.items())
        yield _counter(M.RETRIES, (((k,), v) for k, v in self.retries.items()))
        yield _counter(M.FALLBACKS, (((k,), v) for k, v in self.fallbacks.items()))
        yield _counter(M.CACHE, (((k,), v) for k, v in self.cache.items()))
        yield _counter(M.CACHE_SAVED, [((), self.saved_pico / PICO_PER_USD)])
        yield _counter(M.REJECTIONS, (((k,), v) for k, v in self.rejections.items()))
        node = self.node
        if node is not None:
            yield from self._node(node)
        if self.export_stats is not None:
            sent, failed, waiting = self.export_stats()
            yield _counter(M.METERING_EXPORTED, [((), sent)])
            yield _counter(M.METERING_FAILURES, [((), failed)])
            yield _gauge(M.METERING_OUTBOX, [((), waiting)])

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
        rows = []
        for provider, model, state in node.breakers():
            for name in ("closed", "open", "half_open"):
                rows.append(((provider, model, name), 1 if name == state else 0))
        yield _gauge(M.BREAKER, rows)
        yield _counter(M.WORKER_RESTARTS, [((), node.restarts())])


def _inc(table: dict[Any, int], key: Any, n: int) -> None:
    table[key] = table.get(key, 0) + n


def _hist(table: dict[Any, Histogram], key: Any, bounds: tuple[float, ...]) -> Histogram:
    h = table.get(key)
    if h is None:
        h = table[key] = Histogram(bounds)
    return h


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
