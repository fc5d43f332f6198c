"""OpenTelemetry metrics made from request records, following the GenAI semantic conventions.

The control process's OTLP exporter thread calls :meth:`GenAiMetrics.record` once per
record and :meth:`GenAiMetrics.messages` when the metrics are due; the histograms are
kept here, cumulative since the exporter started, and written straight to OTLP protobuf
(``otlp_proto``): the SDK's instruments cost about 36 us a record, these well under a
tenth of it. The histograms:

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

from bisect import bisect_left
from collections.abc import Iterable
from typing import Final

from ferrogate.config.model import Config
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_spans import OPERATIONS

OTHER: Final = "other"
METRICS_ITEMS: Final = 2  # ScopeMetrics.metrics

# Bucket boundaries the GenAI semantic conventions advise for each histogram.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

MAX_ERROR_TYPES: Final = 100  # distinct ``error.type`` values kept; later new ones count as ``other``

_POINT_ATTRIBUTE: Final = pb.length_tag(9)
_CUMULATIVE: Final = pb.varint_field(2, 2)  # AggregationTemporality
_DATA_POINT: Final = pb.length_tag(1)
_HISTOGRAM: Final = pb.length_tag(9)

AttributeKey = tuple[tuple[str, str | int], ...]


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

    def add(self, point: _Point, value: float) -> None:
        point.buckets[bisect_left(self.bounds, value)] += 1
        point.count += 1
        point.total += value
        if value < point.low:
            point.low = value
        if value > point.high:
            point.high = value

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
    """The points one kind of request adds to (same endpoint, names, status and error)."""

    __slots__ = ("attributes", "duration", "http", "input", "output", "ttft")

    def __init__(self, attributes: AttributeKey, duration: _Point, http: _Point) -> None:
        self.attributes = attributes
        self.duration = duration
        self.http = http
        self.input: _Point | None = None
        self.output: _Point | None = None
        self.ttft: _Point | None = None


MAX_SERIES = 4096  # kinds of request remembered; more empty the memory (callers' model names are unbounded)


class GenAiMetrics:
    """The four histograms; :meth:`record` adds one request to them."""

    __slots__ = ("_errors", "_names", "_series", "duration", "http", "tokens", "ttft")

    def __init__(self, names: KnownNames) -> None:
        self._names = names
        self._errors: set[str] = set()
        self._series: dict[tuple[str, str | None, str | None, str | None, str | None, int], _Series] = {}
        self.tokens = Histogram("gen_ai.client.token.usage", "{token}", "Input and output tokens used", TOKEN_BUCKETS)
        self.duration = Histogram("gen_ai.client.operation.duration", "s", "GenAI operation duration",
                                  DURATION_BUCKETS)
        self.ttft = Histogram("gen_ai.server.time_to_first_token", "s", "Time to the first byte of a streamed answer",
                              TTFT_BUCKETS)
        self.http = Histogram("http.server.request.duration", "s", "Duration of HTTP server requests", HTTP_BUCKETS)

    def follow(self, names: KnownNames) -> None:
        """A reload: the names a request counts under may change."""
        self._names = names
        self._series.clear()

    def attributes(self, record: RequestRecord) -> AttributeKey:
        """The GenAI attributes of the record's operation (bounded values only), in order."""
        names = self._names
        operation = OPERATIONS.get(record.endpoint, (record.endpoint or "unknown", ""))[0]
        out: list[tuple[str, str | int]] = [("gen_ai.operation.name", operation)]
        for key, value in (
            ("gen_ai.provider.name", _bounded(record.provider, names.providers)),
            ("gen_ai.request.model", _bounded(record.model, names.models)),
            ("gen_ai.response.model", _bounded(record.provider_model, names.provider_models)),
            ("error.type", self._error_type(record)),
        ):
            if value is not None:
                out.append((key, value))
        return tuple(out)

    def record(self, record: RequestRecord, now_ns: int) -> None:
        status = record.status
        key = (record.endpoint, record.provider, record.model, record.provider_model, record.error_code, status)
        series = self._series.get(key)
        if series is None:
            series = self._new_series(key, record, now_ns)
        seconds = record.duration_ms / 1000.0
        self.duration.add(series.duration, seconds)
        self.http.add(series.http, seconds)
        if record.usage_source is not None:
            if series.input is None or series.output is None:
                series.input = self.tokens.point((*series.attributes, ("gen_ai.token.type", "input")), now_ns)
                series.output = self.tokens.point((*series.attributes, ("gen_ai.token.type", "output")), now_ns)
            self.tokens.add(series.input, record.input_tokens)
            self.tokens.add(series.output, record.output_tokens)
        if record.stream and record.ttft_ms is not None:
            if series.ttft is None:
                series.ttft = self.ttft.point(series.attributes, now_ns)
            self.ttft.add(series.ttft, record.ttft_ms / 1000.0)

    def _new_series(self, key: tuple[str, str | None, str | None, str | None, str | None, int],
                    record: RequestRecord, now_ns: int) -> _Series:
        attributes = self.attributes(record)
        status = record.status
        http: AttributeKey = (
            ("http.request.method", "POST"),
            ("http.route", OPERATIONS.get(record.endpoint, ("", ""))[1]),
            ("http.response.status_code", status),
        )
        if status >= 500 or status == 0:
            http = (*http, ("error.type", str(status) if status else "unanswered"))
        if len(self._series) >= MAX_SERIES:
            self._series.clear()
        series = self._series[key] = _Series(attributes, self.duration.point(attributes, now_ns),
                                             self.http.point(http, now_ns))
        return series

    def messages(self, now_ns: int) -> list[bytes]:
        """The ``Metric`` message bodies of the histograms that have points."""
        out = [h.message(now_ns) for h in (self.tokens, self.duration, self.ttft, self.http)]
        return [m for m in out if m is not None]

    def _error_type(self, record: RequestRecord) -> str | None:
        """The gateway's error code of a failed request, else None (at most ``MAX_ERROR_TYPES`` values)."""
        if record.error_code is not None:
            kind = record.error_code
        elif record.status >= 400 or record.status == 0:
            kind = str(record.status) if record.status else "unanswered"
        else:
            return None
        errors = self._errors
        if kind not in errors:
            if len(errors) >= MAX_ERROR_TYPES:
                return OTHER
            errors.add(kind)
        return kind
