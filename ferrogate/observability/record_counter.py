"""What the Prometheus metrics count from request records, in a form that adds up.

A worker counts each batch of its records before sending it (compiled, on its own
loop, 500 records at a time) and sends the counts beside the records; the control
process only adds those counts to its totals. So the node's metrics cost the
control process a few dict updates per batch instead of per request, and nobody
decodes a record to count it.

Every table is a dict from a label tuple (the metric's label values, bounded: a
model or provider the config does not name counts as ``other``/empty) to a number;
histograms keep bucket counts per label tuple. :data:`COUNTERS` and
:data:`HISTOGRAMS` name the tables by their index on the wire.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Final

from ferrogate.config.model import Config
from ferrogate.ipc.record_summary import MetricCounts
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability import metric_names as M

# Counter tables, by index.
REQUESTS: Final = 0  # (endpoint, model, provider, status class[, key id])
TOKENS: Final = 1  # (model, provider, direction)
COST_PICO: Final = 2  # (model, provider)
UPSTREAM_ERRORS: Final = 3  # (provider, kind)
RETRIES: Final = 4  # (provider,)
FALLBACKS: Final = 5  # (model,)
CACHE: Final = 6  # (verdict,)
REJECTIONS: Final = 7  # (reason,)
SAVED_PICO: Final = 8  # ()
COUNTERS: Final = 9

# Histogram tables, by index.
DURATION: Final = 0  # (endpoint, model)
TTFT: Final = 1  # (endpoint, model)
OVERHEAD: Final = 2  # (endpoint,)
HISTOGRAMS: Final = 3

_BOUNDS: tuple[tuple[float, ...], ...] = (M.LATENCY_BUCKETS, M.LATENCY_BUCKETS, M.OVERHEAD_BUCKETS)
_DIRECTIONS: tuple[str, ...] = ("input", "output", "cached", "reasoning")


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

    def add(self, counts: list[int], total: float) -> None:
        mine = self.counts
        n = 0
        for i in range(len(counts)):
            c = counts[i]
            mine[i] += c
            n += c
        self.sum += total
        self.count += n

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        counts = self.counts
        bounds = self.bounds
        for i in range(len(bounds)):
            running += counts[i]
            out.append((repr(float(bounds[i])), running))
        out.append(("+Inf", self.count))
        return out


class _Series:
    """The labels and histograms of one (endpoint, model, provider), resolved once."""

    __slots__ = ("cost_key", "duration", "endpoint", "labels", "model", "overhead", "provider", "token_keys", "ttft")

    def __init__(self, endpoint: str, model: str, provider: str, duration: Histogram, ttft: Histogram,
                 overhead: Histogram) -> None:
        self.endpoint = endpoint
        self.model = model
        self.provider = provider
        self.duration = duration
        self.ttft = ttft
        self.overhead = overhead
        self.labels: dict[int, tuple[str, ...]] = {}  # status -> the requests counter's labels
        self.token_keys = tuple((model, provider, d) for d in _DIRECTIONS)
        self.cost_key = (model, provider)


class RecordCounter:
    """Counts of records by metric; a worker's counts of one batch or the node's totals."""

    __slots__ = ("_series", "counters", "histograms", "key_label", "models", "providers")

    def __init__(self, models: Iterable[str], providers: Iterable[str], *, key_label: bool = False) -> None:
        self.models = frozenset(models)
        self.providers = frozenset(providers)
        self.key_label = key_label
        self._series: dict[tuple[str, str | None, str | None], _Series] = {}
        self.counters: list[dict[tuple[str, ...], int]] = [{} for _ in range(COUNTERS)]
        self.histograms: list[dict[tuple[str, ...], Histogram]] = [{} for _ in range(HISTOGRAMS)]

    @classmethod
    def for_config(cls, config: Config) -> RecordCounter:
        return cls(
            (m.name for m in config.models),
            (p.name for p in config.providers),
            key_label=config.telemetry.metrics_key_label,
        )

    def fresh(self) -> RecordCounter:
        """An empty counter with the same labelling (a worker's next batch)."""
        return RecordCounter(self.models, self.providers, key_label=self.key_label)

    # -- counting records (the worker)

    def observe(self, records: Iterable[RequestRecord]) -> None:
        series = self._series
        counters = self.counters
        requests = counters[REQUESTS]
        tokens = counters[TOKENS]
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
                _inc(counters[COST_PICO], one.cost_key, r.cost_pico)
            one.duration.observe(r.duration_ms / 1000.0)
            if r.ttft_ms is not None:
                one.ttft.observe(r.ttft_ms / 1000.0)
            one.overhead.observe(r.overhead_ms / 1000.0)
            if r.attempt_log:
                self._attempts(r, one.model)
            if r.cache is not None:
                _inc(counters[CACHE], (r.cache,), 1)
            if r.saved_cost_pico:
                _inc(counters[SAVED_PICO], (), r.saved_cost_pico)
            if r.error_code is not None:
                reason = M.REJECTION_CODES.get(r.error_code)
                if reason is not None:
                    _inc(counters[REJECTIONS], (reason,), 1)

    def _new_series(self, r: RequestRecord) -> _Series:
        model = r.model if r.model in self.models else ("other" if r.model else "")
        provider = r.provider if r.provider in self.providers else ""
        endpoint = r.endpoint
        hists = self.histograms
        return _Series(
            endpoint,
            model,
            provider,
            self._histogram(hists[DURATION], (endpoint, model), DURATION),
            self._histogram(hists[TTFT], (endpoint, model), TTFT),
            self._histogram(hists[OVERHEAD], (endpoint,), OVERHEAD),
        )

    def _histogram(self, table: dict[tuple[str, ...], Histogram], key: tuple[str, ...], kind: int) -> Histogram:
        h = table.get(key)
        if h is None:
            h = table[key] = Histogram(_BOUNDS[kind])
        return h

    def _attempts(self, r: RequestRecord, model: str) -> None:
        log = r.attempt_log
        counters = self.counters
        previous: tuple[str, str] | None = None
        for a in log:
            provider = a.provider if a.provider in self.providers else ""
            if a.error_kind is not None:
                _inc(counters[UPSTREAM_ERRORS], (provider, a.error_kind), 1)
            current = (a.provider, a.provider_model)
            if previous == current:
                _inc(counters[RETRIES], (provider,), 1)
            previous = current
        if r.status < 400 and r.provider is not None and r.provider != log[0].provider:
            _inc(counters[FALLBACKS], (model,), 1)

    # -- the wire (worker -> control) and the totals (control)

    def to_wire(self) -> MetricCounts:
        counters: list[tuple[int, tuple[str, ...], int]] = []
        for table in range(COUNTERS):
            for labels, n in self.counters[table].items():
                counters.append((table, labels, n))
        histograms: list[tuple[int, tuple[str, ...], list[int], float]] = []
        for table in range(HISTOGRAMS):
            for labels, h in self.histograms[table].items():
                if h.count:
                    histograms.append((table, labels, h.counts, h.sum))
        return MetricCounts(counters, histograms)

    def add(self, counts: MetricCounts) -> None:
        """Add a worker's counts of one batch to these totals."""
        tables = self.counters
        for table, labels, n in counts.counters:
            if 0 <= table < COUNTERS:
                _inc(tables[table], labels, n)
        hists = self.histograms
        for table, labels, buckets, total in counts.histograms:
            if 0 <= table < HISTOGRAMS and len(buckets) == len(_BOUNDS[table]) + 1:
                self._histogram(hists[table], labels, table).add(buckets, total)


def _inc(table: dict[tuple[str, ...], int], key: tuple[str, ...], n: int) -> None:
    table[key] = table.get(key, 0) + n
