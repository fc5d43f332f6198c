"""OpenTelemetry metrics made from request records, following the GenAI semantic conventions.

Each worker sums its batch of records (:class:`GenAiBatch`, compiled, beside the Prometheus
counts) and sends the increments with it; the control process's OTLP exporter adds them
(:meth:`GenAiMetrics.add`) and writes the histograms when they are due, cumulative since it
started, straight to OTLP protobuf (``otlp_proto``). So no record is decoded for the metrics:
with OTLP logs off and traces sampled, the control process decodes only what it ships. The
SDK's instruments cost about 36 us a record, these well under a tenth of it. The histograms:

- ``gen_ai.client.token.usage`` (``{token}``; ``gen_ai.token.type`` = input / output),
  for requests with usage;
- ``gen_ai.client.operation.duration`` (s), every request;
- ``gen_ai.server.time_to_first_token`` (s), streamed requests that sent something;
- ``http.server.request.duration`` (s), the HTTP convention, whose count is the request
  counter.

Attribute sets are bounded: the caller's model name, the provider and the provider model
count only when the config names them (else ``other``); no key, request or trace ids.
A value falls in the first bucket whose upper bound it does not exceed, as in the SDK.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from msgspec.structs import astuple

from ferrogate.config.model import Config
from ferrogate.ipc.record_summary import GenAiIncrement, GenAiSeries
from ferrogate.ipc.request_records import RECORD_FIELDS, RecordFields, RequestRecord
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_spans import OPERATIONS
from ferrogate.observability.record_counter import bucket_index

OTHER: Final = "other"
METRICS_ITEMS: Final = 2  # ScopeMetrics.metrics

# Bucket boundaries the GenAI semantic conventions advise for each histogram.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

# The points a kind of request adds to, by index on the wire (GenAiIncrement's second item).
DURATION_POINT: Final = 0
HTTP_POINT: Final = 1
INPUT_POINT: Final = 2
OUTPUT_POINT: Final = 3
TTFT_POINT: Final = 4
POINT_KINDS: Final = 5
_POINT_BOUNDS: tuple[tuple[float, ...], ...] = tuple(
    tuple(float(b) for b in bounds) for bounds in (DURATION_BUCKETS, HTTP_BUCKETS, TOKEN_BUCKETS, TOKEN_BUCKETS,
                                                   TTFT_BUCKETS))

try:
    from ferrogate.ipc._batch_sums import genai_sums as _c_genai_sums
except ImportError:  # not built: observe_fields_py sums every batch
    _c_genai_sums = None  # type: ignore[assignment]

MAX_ERROR_TYPES: Final = 100  # distinct ``error.type`` values kept; later new ones count as ``other``

_POINT_ATTRIBUTE: Final = pb.length_tag(9)
_CUMULATIVE: Final = pb.varint_field(2, 2)  # AggregationTemporality
_DATA_POINT: Final = pb.length_tag(1)
_HISTOGRAM: Final = pb.length_tag(9)

AttributeKey = tuple[tuple[str, str | int], ...]

# Where GenAiBatch finds a record's fields in its astuple() (one call, not ten attribute reads).
_ENDPOINT: Final = RECORD_FIELDS.index("endpoint")
_PROVIDER: Final = RECORD_FIELDS.index("provider")
_MODEL: Final = RECORD_FIELDS.index("model")
_PROVIDER_MODEL: Final = RECORD_FIELDS.index("provider_model")
_ERROR_CODE: Final = RECORD_FIELDS.index("error_code")
_STATUS: Final = RECORD_FIELDS.index("status")
_DURATION: Final = RECORD_FIELDS.index("duration_ms")
_USAGE_SOURCE: Final = RECORD_FIELDS.index("usage_source")
_INPUT: Final = RECORD_FIELDS.index("input_tokens")
_OUTPUT: Final = RECORD_FIELDS.index("output_tokens")
_STREAM: Final = RECORD_FIELDS.index("stream")
_TTFT: Final = RECORD_FIELDS.index("ttft_ms")
# Where the C sums find each field they read (_batch_sums.c: genai_sums's order; the series
# key's six first).
_LAYOUT: Final[tuple[int, ...]] = (_ENDPOINT, _PROVIDER, _MODEL, _PROVIDER_MODEL, _ERROR_CODE, _STATUS, _DURATION, _USAGE_SOURCE, _INPUT,
                  _OUTPUT, _STREAM, _TTFT)


class KnownNames:
    """The models, providers and provider models a config names: the only label values kept."""

    __slots__ = ("models", "provider_models", "providers")

    def __init__(self, models: Iterable[str], providers: Iterable[str], provider_models: Iterable[str]) -> None:
        self.models = frozenset(models)
        self.providers = frozenset(providers)
        self.provider_models = frozenset(provider_models)

    @classmethod
    def of(cls, config: Config) -> KnownNames:
        return cls(
            (m.name for m in config.models),
            (p.name for p in config.providers),
            [m.provider_model for m in config.models] + [f.provider_model for m in config.models for f in m.fallbacks],
        )


def _bounded(value: str | None, known: frozenset[str]) -> str | None:
    return None if value is None else value if value in known else OTHER


class _Point:
    """One attribute set's cumulative histogram."""

    __slots__ = ("attributes", "buckets", "count", "high", "low", "started_ns", "total")

    def __init__(self, attributes: bytes, buckets: int, started_ns: int) -> None:
        self.attributes = attributes
        self.buckets = [0] * buckets
        self.count = 0
        self.total = 0.0
        self.low = float("inf")
        self.high = float("-inf")
        self.started_ns = started_ns


class Histogram:
    """An explicit-bucket histogram instrument and its points, by attribute set."""

    __slots__ = ("_bounds_field", "_head", "bounds", "points")

    def __init__(self, name: str, unit: str, description: str, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.points: dict[AttributeKey, _Point] = {}
        self._head = (pb.string_field(pb.length_tag(1), name) + pb.string_field(pb.length_tag(2), description)
                      + pb.string_field(pb.length_tag(3), unit))
        self._bounds_field = pb.packed_double(7, [float(b) for b in bounds])

    def point(self, key: AttributeKey, now_ns: int) -> _Point:
        """The point of attribute set ``key``, made on its first use."""
        point = self.points.get(key)
        if point is None:
            body = pb.attributes(_POINT_ATTRIBUTE, dict(key))
            point = self.points[key] = _Point(body, len(self.bounds) + 1, now_ns)
        return point

    def merge(self, point: _Point, buckets: list[int], total: float, low: float, high: float) -> None:
        """Add a worker's increment (its bucket counts, sum, min and max; as many buckets as
        this histogram's) to ``point``."""
        mine = point.buckets
        count = 0
        for i in range(len(buckets)):
            mine[i] += buckets[i]
            count += buckets[i]
        point.count += count
        point.total += total
        if low < point.low:
            point.low = low
        if high > point.high:
            point.high = high

    def message(self, now_ns: int) -> bytes | None:
        """The ``Metric`` message body of every point so far; None before the first."""
        if not self.points:
            return None
        points = [
            pb.message_field(_DATA_POINT, b"".join((
                pb.fixed64_field(2, p.started_ns), pb.fixed64_field(3, now_ns), pb.fixed64_field(4, p.count),
                pb.double_field(5, p.total), pb.packed_fixed64(6, p.buckets), self._bounds_field, p.attributes,
                pb.double_field(11, p.low), pb.double_field(12, p.high),
            )))
            for p in self.points.values()
        ]
        return self._head + pb.message_field(_HISTOGRAM, b"".join(points) + _CUMULATIVE)


class _Series:
    """The points one kind of request adds to (same endpoint, names, status and error), by
    kind (``DURATION_POINT`` ...): made on first use."""

    __slots__ = ("attributes", "http_attributes", "points")

    def __init__(self, attributes: AttributeKey, http_attributes: AttributeKey) -> None:
        self.attributes = attributes
        self.http_attributes = http_attributes
        self.points: list[_Point | None] = [None, None, None, None, None]


class _Sums:
    """What a batch adds to one point: bucket counts, sum, min and max."""

    __slots__ = ("bounds", "buckets", "high", "low", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.low = float("inf")
        self.high = float("-inf")

    def add(self, value: float) -> None:
        self.buckets[bucket_index(self.bounds, value)] += 1
        self.total += value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value


class _SeriesSums:
    """A batch's sums for one kind of request: every request adds to its duration points."""

    __slots__ = ("duration", "http", "input", "output", "ttft")

    def __init__(self) -> None:
        self.duration = _Sums(_POINT_BOUNDS[DURATION_POINT])
        self.http = _Sums(_POINT_BOUNDS[HTTP_POINT])
        self.input: _Sums | None = None
        self.output: _Sums | None = None
        self.ttft: _Sums | None = None

    def kinds(self) -> list[tuple[int, _Sums | None]]:
        return [(DURATION_POINT, self.duration), (HTTP_POINT, self.http), (INPUT_POINT, self.input),
                (OUTPUT_POINT, self.output), (TTFT_POINT, self.ttft)]


class GenAiBatch:
    """A worker's GenAI histogram increments for one batch of records: which points each
    record adds to, and what. The control process adds them up (:meth:`GenAiMetrics.add`)."""

    __slots__ = ("_sums",)

    def __init__(self) -> None:
        self._sums: dict[GenAiSeries, _SeriesSums] = {}

    def observe(self, records: Iterable[RequestRecord]) -> list[GenAiIncrement]:
        """The increments of ``records`` (this batch's only: a new batch starts empty)."""
        return self.observe_fields([astuple(r) for r in records])

    def observe_fields(self, batch: list[RecordFields]) -> list[GenAiIncrement]:
        """:meth:`observe` of records' fields (a worker reads its batch into them once): summed
        in C when it is built and can sum them exactly (it answers None otherwise), else by
        :meth:`observe_fields_py`."""
        if _c_genai_sums is not None:
            increments = _c_genai_sums(batch, _LAYOUT, _POINT_BOUNDS)
            if increments is not None:
                return increments
        return self.observe_fields_py(batch)

    def observe_fields_py(self, batch: list[RecordFields]) -> list[GenAiIncrement]:
        """:meth:`observe_fields` in Python."""
        table = self._sums
        last: GenAiSeries | None = None
        sums: _SeriesSums | None = None
        for f in batch:
            key: GenAiSeries = (f[_ENDPOINT], f[_PROVIDER], f[_MODEL], f[_PROVIDER_MODEL], f[_ERROR_CODE], f[_STATUS])
            if sums is None or key != last:  # a batch is mostly one kind of request: look it up on a change
                sums = table.get(key)
                if sums is None:
                    sums = table[key] = _SeriesSums()
                last = key
            duration_ms: float = f[_DURATION]
            seconds = duration_ms / 1000.0
            sums.duration.add(seconds)
            sums.http.add(seconds)
            if f[_USAGE_SOURCE] is not None:
                input_tokens: int = f[_INPUT]
                output_tokens: int = f[_OUTPUT]
                if sums.input is None:
                    sums.input = _Sums(_POINT_BOUNDS[INPUT_POINT])
                if sums.output is None:
                    sums.output = _Sums(_POINT_BOUNDS[OUTPUT_POINT])
                sums.input.add(input_tokens)
                sums.output.add(output_tokens)
            ttft_ms: float | None = f[_TTFT]
            if ttft_ms is not None and f[_STREAM]:
                if sums.ttft is None:
                    sums.ttft = _Sums(_POINT_BOUNDS[TTFT_POINT])
                sums.ttft.add(ttft_ms / 1000.0)
        out: list[GenAiIncrement] = []
        for series, by_kind in table.items():
            for kind, one in by_kind.kinds():
                if one is not None:
                    out.append((series, kind, one.buckets, one.total, one.low, one.high))
        table.clear()
        return out


MAX_SERIES = 4096  # kinds of request remembered; more empty the memory (callers' model names are unbounded)


class GenAiMetrics:
    """The four histograms; :meth:`add` adds the workers' increments to them."""

    __slots__ = ("_errors", "_histograms", "_names", "_series", "duration", "http", "tokens", "ttft")

    def __init__(self, names: KnownNames) -> None:
        self._names = names
        self._errors: set[str] = set()
        self._series: dict[GenAiSeries, _Series] = {}
        self.tokens = Histogram("gen_ai.client.token.usage", "{token}", "Input and output tokens used", TOKEN_BUCKETS)
        self.duration = Histogram("gen_ai.client.operation.duration", "s", "GenAI operation duration",
                                  DURATION_BUCKETS)
        self.ttft = Histogram("gen_ai.server.time_to_first_token", "s", "Time to the first byte of a streamed answer",
                              TTFT_BUCKETS)
        self.http = Histogram("http.server.request.duration", "s", "Duration of HTTP server requests", HTTP_BUCKETS)
        # The histogram of each point kind, by its index.
        self._histograms = (self.duration, self.http, self.tokens, self.tokens, self.ttft)

    def follow(self, names: KnownNames) -> None:
        """A reload: the names a request counts under may change."""
        self._names = names
        self._series.clear()

    def attributes(self, key: GenAiSeries) -> AttributeKey:
        """The GenAI attributes of a kind of request's operation (bounded values only), in order."""
        endpoint, provider, model, provider_model, error_code, status = key
        names = self._names
        operation = OPERATIONS.get(endpoint, (endpoint or "unknown", ""))[0]
        out: list[tuple[str, str | int]] = [("gen_ai.operation.name", operation)]
        for name, value in (
            ("gen_ai.provider.name", _bounded(provider, names.providers)),
            ("gen_ai.request.model", _bounded(model, names.models)),
            ("gen_ai.response.model", _bounded(provider_model, names.provider_models)),
            ("error.type", self._error_type(error_code, status)),
        ):
            if value is not None:
                out.append((name, value))
        return tuple(out)

    def add(self, increments: list[GenAiIncrement], now_ns: int) -> None:
        """Add a worker's batch of increments."""
        histograms = self._histograms
        for key, kind, buckets, total, low, high in increments:
            if not 0 <= kind < POINT_KINDS or len(buckets) != len(_POINT_BOUNDS[kind]) + 1 or not any(buckets):
                continue  # not this version's points, or nothing to add: never mis-added
            series = self._series.get(key)
            if series is None:
                series = self._new_series(key)
            point = series.points[kind]
            if point is None:
                point = series.points[kind] = self._new_point(series, kind, now_ns)
            histograms[kind].merge(point, buckets, total, low, high)

    def _new_point(self, series: _Series, kind: int, now_ns: int) -> _Point:
        if kind in (INPUT_POINT, OUTPUT_POINT):
            token_type = "input" if kind == INPUT_POINT else "output"
            return self.tokens.point((*series.attributes, ("gen_ai.token.type", token_type)), now_ns)
        if kind == HTTP_POINT:
            return self.http.point(series.http_attributes, now_ns)
        return self._histograms[kind].point(series.attributes, now_ns)

    def _new_series(self, key: GenAiSeries) -> _Series:
        attributes = self.attributes(key)
        endpoint, status = key[0], key[5]
        http: AttributeKey = (
            ("http.request.method", "POST"),
            ("http.route", OPERATIONS.get(endpoint, ("", ""))[1]),
            ("http.response.status_code", status),
        )
        if status >= 500 or status == 0:
            http = (*http, ("error.type", str(status) if status else "unanswered"))
        if len(self._series) >= MAX_SERIES:
            self._series.clear()
        series = self._series[key] = _Series(attributes, http)
        return series

    def messages(self, now_ns: int) -> list[bytes]:
        """The ``Metric`` message bodies of the histograms that have points."""
        out = [h.message(now_ns) for h in (self.tokens, self.duration, self.ttft, self.http)]
        return [m for m in out if m is not None]

    def _error_type(self, error_code: str | None, status: int) -> str | None:
        """The gateway's error code of a failed request, else None (at most ``MAX_ERROR_TYPES`` values)."""
        if error_code is not None:
            kind = error_code
        elif status >= 400 or status == 0:
            kind = str(status) if status else "unanswered"
        else:
            return None
        errors = self._errors
        if kind not in errors:
            if len(errors) >= MAX_ERROR_TYPES:
                return OTHER
            errors.add(kind)
        return kind
