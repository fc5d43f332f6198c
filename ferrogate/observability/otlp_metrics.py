"""OpenTelemetry metrics made from request records, following the GenAI semantic conventions.

The control process's OTLP exporter thread calls :meth:`GenAiMetrics.record` once per
record; the SDK aggregates and a ``PeriodicExportingMetricReader`` sends the histograms:

- ``gen_ai.client.token.usage`` (``{token}``; ``gen_ai.token.type`` = input / output),
  for requests with usage;
- ``gen_ai.client.operation.duration`` (s), every request;
- ``gen_ai.server.time_to_first_token`` (s), streamed requests that sent something;
- ``http.server.request.duration`` (s), the HTTP convention, whose count is the request
  counter.

Attribute sets are bounded: the caller's model name, the provider and the provider model
count only when the config names them (else ``other``); no key, request or trace ids.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.metrics import Meter

from ferrogate.config.model import Config
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability.otlp_spans import OPERATIONS

OTHER = "other"

# Bucket boundaries the GenAI semantic conventions advise for each histogram.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

MAX_ERROR_TYPES = 100  # distinct ``error.type`` values kept; later new ones count as ``other``

Attributes = dict[str, str | int]


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


class GenAiMetrics:
    """The instruments, made once on a meter; :meth:`record` adds one request to them."""

    __slots__ = ("_duration", "_errors", "_http", "_tokens", "_ttft", "names")

    def __init__(self, meter: Meter, names: KnownNames) -> None:
        self.names = names
        self._errors: set[str] = set()
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._ttft = meter.create_histogram(
            "gen_ai.server.time_to_first_token", unit="s", description="Time to the first byte of a streamed answer",
            explicit_bucket_boundaries_advisory=TTFT_BUCKETS,
        )
        self._http = meter.create_histogram(
            "http.server.request.duration", unit="s", description="Duration of HTTP server requests",
            explicit_bucket_boundaries_advisory=HTTP_BUCKETS,
        )

    def attributes(self, record: RequestRecord) -> Attributes:
        """The GenAI attributes of the record's operation (bounded values only)."""
        names = self.names
        operation = OPERATIONS.get(record.endpoint, (record.endpoint or "unknown", ""))[0]
        out: Attributes = {"gen_ai.operation.name": operation}
        for key, value in (
            ("gen_ai.provider.name", _bounded(record.provider, names.providers)),
            ("gen_ai.request.model", _bounded(record.model, names.models)),
            ("gen_ai.response.model", _bounded(record.provider_model, names.provider_models)),
            ("error.type", self._error_type(record)),
        ):
            if value is not None:
                out[key] = value
        return out

    def record(self, record: RequestRecord) -> None:
        attributes = self.attributes(record)
        seconds = record.duration_ms / 1000.0
        self._duration.record(seconds, attributes)
        if record.usage_source is not None:
            self._tokens.record(record.input_tokens, {**attributes, "gen_ai.token.type": "input"})
            self._tokens.record(record.output_tokens, {**attributes, "gen_ai.token.type": "output"})
        if record.stream and record.ttft_ms is not None:
            self._ttft.record(record.ttft_ms / 1000.0, attributes)
        http: Attributes = {
            "http.request.method": "POST",
            "http.route": OPERATIONS.get(record.endpoint, ("", ""))[1],
            "http.response.status_code": record.status,
        }
        if record.status >= 500 or record.status == 0:
            http["error.type"] = str(record.status) if record.status else "unanswered"
        self._http.record(seconds, http)

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
