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

from collections.abc import Iterable
from typing import Any, Final

from msgspec.structs import astuple

from ferrogate.config.model import Config
from ferrogate.ipc.record_summary import MetricCounts
from ferrogate.ipc.request_records import RECORD_FIELDS, AttemptRecord, RecordFields, RequestRecord
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

# Where observe finds a record's fields in its astuple(): one call per record instead of
# twenty attribute reads, each a generic lookup from compiled code on a msgspec struct.
_ENDPOINT: Final = RECORD_FIELDS.index("endpoint")
_STATUS: Final = RECORD_FIELDS.index("status")
_DURATION: Final = RECORD_FIELDS.index("duration_ms")
_OVERHEAD: Final = RECORD_FIELDS.index("overhead_ms")
_TTFT: Final = RECORD_FIELDS.index("ttft_ms")
_KEY_ID: Final = RECORD_FIELDS.index("key_id")
_MODEL: Final = RECORD_FIELDS.index("model")
_PROVIDER: Final = RECORD_FIELDS.index("provider")
_ERROR_CODE: Final = RECORD_FIELDS.index("error_code")
_CACHE: Final = RECORD_FIELDS.index("cache")
_INPUT: Final = RECORD_FIELDS.index("input_tokens")
_OUTPUT: Final = RECORD_FIELDS.index("output_tokens")
_CACHED: Final = RECORD_FIELDS.index("cached_tokens")
_REASONING: Final = RECORD_FIELDS.index("reasoning_tokens")
_COST: Final = RECORD_FIELDS.index("cost_pico")
_SAVED: Final = RECORD_FIELDS.index("saved_cost_pico")
_ATTEMPT_LOG: Final = RECORD_FIELDS.index("attempt_log")
# Where the C sums find each field they read (_batch_sums.c: series_sums's order).
_LAYOUT: Final[tuple[int, ...]] = (_ENDPOINT, _MODEL, _PROVIDER, _STATUS, _INPUT, _OUTPUT, _CACHED, _REASONING, _COST, _DURATION, _TTFT,
                  _OVERHEAD, _ATTEMPT_LOG, _CACHE, _SAVED, _ERROR_CODE)

try:
    from ferrogate.ipc._batch_sums import series_sums as _c_series_sums
except ImportError:  # not built: observe_fields_py counts every batch
    _c_series_sums = None  # type: ignore[assignment]


def bucket_index(bounds: tuple[float, ...], value: float) -> int:
    """The bucket ``value`` falls in: that of the first bound not below it (bisect_left's
    answer), or the last. A scan from the smallest bound, not bisect: most requests land in
    the first few buckets, and compiled, each step is a native float comparison (bisect's are
    generic object comparisons behind a call)."""
    i = 0
    n = len(bounds)
    while i < n and value > bounds[i]:
        i += 1
    return i


class Histogram:
    """Bucket counts of one label set (``counts[i]``: observations ≤ ``bounds[i]``, not cumulative)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bucket_index(self.bounds, value)] += 1
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
    """The labels and histograms of one (endpoint, model, provider), resolved once, and what a
    batch adds to its counters, summed in plain ints before they are folded into the tables
    (one dict update per series and batch instead of several per record)."""

    __slots__ = (
        "cost", "cost_key", "duration", "endpoint", "in_batch", "labels", "model", "overhead", "provider",
        "raw_model", "raw_provider", "statuses", "token_keys", "tokens", "ttft",
    )

    def __init__(self, endpoint: str, raw_model: str | None, raw_provider: str | None, model: str, provider: str,
                 duration: Histogram, ttft: Histogram, overhead: Histogram) -> None:
        self.endpoint = endpoint
        self.raw_model = raw_model  # what records of this series say (model/provider: the labels)
        self.raw_provider = raw_provider
        self.model = model
        self.provider = provider
        self.duration = duration
        self.ttft = ttft
        self.overhead = overhead
        self.labels: dict[int, tuple[str, ...]] = {}  # status -> the requests counter's labels
        self.token_keys = tuple((model, provider, d) for d in _DIRECTIONS)
        self.cost_key = (model, provider)
        self.in_batch = False
        self.statuses: dict[int, int] = {}  # this batch: requests by status
        self.tokens = [0, 0, 0, 0]  # this batch: by direction
        self.cost = 0

    def holds(self, f: tuple[Any, ...]) -> bool:
        """Whether the record whose fields are ``f`` belongs to this series."""
        return f[_MODEL] == self.raw_model and f[_PROVIDER] == self.raw_provider and f[_ENDPOINT] == self.endpoint


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
        self.observe_fields([astuple(r) for r in records])

    def observe_fields(self, batch: list[RecordFields]) -> None:
        """:meth:`observe` of records' fields (a worker reads its batch into them once): summed
        in C when it is built and can sum them exactly (it answers None otherwise), else by
        :meth:`observe_fields_py`. Counting by key id (``metrics_key_label``) is Python's."""
        if _c_series_sums is not None and not self.key_label:
            summed = _c_series_sums(batch, _LAYOUT, _BOUNDS[DURATION], _BOUNDS[OVERHEAD])
            if summed is not None:
                self._add_summed(batch, summed)
                return
        self.observe_fields_py(batch)

    def _add_summed(self, batch: list[RecordFields], summed: Any) -> None:
        """Fold what ``series_sums`` made of ``batch`` into the tables, as observe_fields_py
        would have (the order of first appearance kept, so the wire is the same)."""
        listed: list[Any] = summed[0]
        counters = self.counters
        series = self._series
        for first, statuses, tokens, cost, duration, ttft, overhead in listed:
            f = batch[first]
            ident = (f[_ENDPOINT], f[_MODEL], f[_PROVIDER])
            one = series.get(ident)
            if one is None:
                one = series[ident] = self._new_series(f)
            counts = one.statuses
            for status, n in statuses:
                counts[status] = counts.get(status, 0) + n
            mine = one.tokens
            for direction in range(len(_DIRECTIONS)):
                mine[direction] += tokens[direction]
            one.cost += cost
            one.duration.add(duration[0], duration[1])
            one.ttft.add(ttft[0], ttft[1])
            one.overhead.add(overhead[0], overhead[1])
            self._fold(one)
        special: list[int] = summed[5]
        for i in special:
            f = batch[i]
            self._attempts(f[_ATTEMPT_LOG], f[_STATUS], f[_PROVIDER], series[(f[_ENDPOINT], f[_MODEL], f[_PROVIDER])].model)
        verdicts: list[tuple[str, int]] = summed[1]
        for verdict, n in verdicts:
            _inc(counters[CACHE], (verdict,), n)
        if summed[2]:
            _inc(counters[SAVED_PICO], (), summed[3])
        codes: list[tuple[str, int]] = summed[4]
        for code, n in codes:
            reason = M.REJECTION_CODES.get(code)
            if reason is not None:
                _inc(counters[REJECTIONS], (reason,), n)

    def observe_fields_py(self, batch: list[RecordFields]) -> None:
        """:meth:`observe_fields` in Python."""
        series = self._series
        counters = self.counters
        key_label = self.key_label
        touched: list[_Series] = []
        one: _Series | None = None
        for f in batch:
            if one is None or not one.holds(f):  # a batch is mostly one series: look it up on a change
                ident = (f[_ENDPOINT], f[_MODEL], f[_PROVIDER])
                one = series.get(ident)
                if one is None:
                    one = series[ident] = self._new_series(f)
                if not one.in_batch:
                    one.in_batch = True
                    touched.append(one)
            status: int = f[_STATUS]
            if key_label:
                labels = (one.endpoint, one.model, one.provider, _status_class(status), f[_KEY_ID] or "")
                _inc(counters[REQUESTS], labels, 1)
            else:
                statuses = one.statuses
                statuses[status] = statuses.get(status, 0) + 1
            input_tokens: int = f[_INPUT]
            output_tokens: int = f[_OUTPUT]
            if input_tokens or output_tokens:
                tokens = one.tokens
                tokens[0] += input_tokens
                tokens[1] += output_tokens
                tokens[2] += f[_CACHED]
                tokens[3] += f[_REASONING]
            cost: int = f[_COST]
            one.cost += cost
            duration: float = f[_DURATION]
            one.duration.observe(duration / 1000.0)
            ttft: float | None = f[_TTFT]
            if ttft is not None:
                one.ttft.observe(ttft / 1000.0)
            overhead: float = f[_OVERHEAD]
            one.overhead.observe(overhead / 1000.0)
            log: tuple[AttemptRecord, ...] = f[_ATTEMPT_LOG]
            if log and (len(log) > 1 or log[0].error_kind is not None or f[_PROVIDER] != log[0].provider):
                self._attempts(log, status, f[_PROVIDER], one.model)  # a plain single successful attempt counts nothing there
            verdict: str | None = f[_CACHE]
            if verdict is not None:
                _inc(counters[CACHE], (verdict,), 1)
            saved: int = f[_SAVED]
            if saved:
                _inc(counters[SAVED_PICO], (), saved)
            error_code: str | None = f[_ERROR_CODE]
            if error_code is not None:
                reason = M.REJECTION_CODES.get(error_code)
                if reason is not None:
                    _inc(counters[REJECTIONS], (reason,), 1)
        for one in touched:
            self._fold(one)

    def _fold(self, one: _Series) -> None:
        """Move what this batch added to ``one`` into the tables."""
        counters = self.counters
        requests = counters[REQUESTS]
        for status, n in one.statuses.items():
            labels = one.labels.get(status)
            if labels is None:
                labels = one.labels[status] = (one.endpoint, one.model, one.provider, _status_class(status))
            requests[labels] = requests.get(labels, 0) + n
        one.statuses.clear()
        tokens = one.tokens
        if tokens[0] or tokens[1]:
            table = counters[TOKENS]
            keys = one.token_keys
            for direction in range(len(_DIRECTIONS)):
                if direction < 2 or tokens[direction]:
                    _inc(table, keys[direction], tokens[direction])
                tokens[direction] = 0
        if one.cost:
            _inc(counters[COST_PICO], one.cost_key, one.cost)
            one.cost = 0
        one.in_batch = False

    def _new_series(self, f: RecordFields) -> _Series:
        raw_model: str | None = f[_MODEL]
        raw_provider: str | None = f[_PROVIDER]
        model = raw_model if raw_model in self.models else ("other" if raw_model else "")
        provider = raw_provider if raw_provider in self.providers else ""
        endpoint: str = f[_ENDPOINT]
        hists = self.histograms
        return _Series(
            endpoint,
            raw_model,
            raw_provider,
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

    def _attempts(self, log: tuple[AttemptRecord, ...], status: int, served_by: str | None, model: str) -> None:
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
        if status < 400 and served_by is not None and served_by != log[0].provider:
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


def _status_class(status: int) -> str:
    return f"{status // 100}xx" if status else "none"
