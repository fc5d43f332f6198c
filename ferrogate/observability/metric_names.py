"""Every Prometheus metric the gateway exports: its name, type, help and labels, in one place.

Names follow Prometheus conventions (``ferrogate_`` prefix, base units: seconds and
USD; counters end in ``_total``). Label values are bounded: models and providers are
the config's (a model a client made up is counted as ``other``), statuses are
classes (``2xx``), and the key id is a label only with ``telemetry.metrics_key_label``.
The Grafana dashboard (deploy/grafana/ferrogate.json) queries these names; a test
checks it names no other.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

MetricType = Literal["counter", "gauge", "histogram"]


class MetricName(NamedTuple):
    name: str  # without the _total suffix prometheus_client adds to counters
    type: MetricType
    help: str
    labels: tuple[str, ...]


def _m(name: str, type: MetricType, help: str, *labels: str) -> MetricName:
    return MetricName(name, type, help, labels)


# -- every response of the data plane (from the workers' heartbeats)
HTTP_RESPONSES = _m("ferrogate_http_responses", "counter", "Responses of the public listeners by HTTP status code, malformed requests included.", "code")
CONNECTIONS = _m("ferrogate_open_connections", "gauge", "Client connections open now.")
INFLIGHT = _m("ferrogate_inflight_requests", "gauge", "Requests being handled now.")
STREAMS = _m("ferrogate_inflight_streams", "gauge", "AI answers being streamed now.")
RECORDS_DROPPED = _m("ferrogate_records_dropped", "counter", "Request records a worker dropped because its queue to the control process was full.")

# -- AI requests (from the request records)
REQUESTS = _m("ferrogate_requests", "counter", "AI requests by endpoint, model, provider and status class.", "endpoint", "model", "provider", "status_class")
TOKENS = _m("ferrogate_tokens", "counter", "Tokens by model, provider and direction (input, output; cached and reasoning are parts of them).", "model", "provider", "direction")
COST = _m("ferrogate_cost_usd", "counter", "Cost of AI requests in USD, from the models' prices.", "model", "provider")
DURATION = _m("ferrogate_request_duration_seconds", "histogram", "Time from taking an AI request to its last byte.", "endpoint", "model")
TTFT = _m("ferrogate_time_to_first_token_seconds", "histogram", "Time from taking an AI request to the first byte of its answer.", "endpoint", "model")
OVERHEAD = _m("ferrogate_gateway_overhead_seconds", "histogram", "Time an AI request spent in the gateway itself, upstream waits excluded.", "endpoint")
UPSTREAM_ERRORS = _m("ferrogate_upstream_errors", "counter", "Failed upstream attempts by provider and error kind (rate_limited, timeout, ...).", "provider", "kind")
RETRIES = _m("ferrogate_retries", "counter", "Upstream attempts after the first on the same provider.", "provider")
FALLBACKS = _m("ferrogate_fallbacks", "counter", "Requests answered by another provider after the first one failed.", "model")
CACHE = _m("ferrogate_cache_lookups", "counter", "Answer cache lookups by result (hit, miss, bypass).", "result")
CACHE_SAVED = _m("ferrogate_cache_saved_cost_usd", "counter", "What the answers served from the cache would have cost.")
REJECTIONS = _m("ferrogate_limit_rejections", "counter", "Requests refused by a rate limit or budget, by reason.", "reason")
BREAKER = _m("ferrogate_breaker_state", "gauge", "Circuit breaker state per target: 1 for the state it is in.", "provider", "provider_model", "state")
WORKER_RESTARTS = _m("ferrogate_worker_restarts", "counter", "Workers the supervisor started again after one died.")
METERING_EXPORTED = _m("ferrogate_metering_exported", "counter", "Metering events the export receiver took.")
METERING_FAILURES = _m("ferrogate_metering_export_failures", "counter", "Metering export POSTs that failed (and will be retried).")
METERING_OUTBOX = _m("ferrogate_metering_outbox_events", "gauge", "Metering events waiting for the export receiver.")
NODE_INFO = _m("ferrogate_node_info", "gauge", "Always 1: which node this is (cluster.node_id) and the FerroGate version it runs.", "node_id", "version")
WORKERS = _m("ferrogate_workers", "gauge", "Workers of this node by lifecycle state.", "state")
OTLP_DROPPED = _m("ferrogate_otlp_records_dropped", "counter", "Request records the OTLP exporter dropped because its queue was full.")
# -- MCP tools (the control process runs every call)
MCP_TOOL_CALLS = _m("ferrogate_mcp_tool_calls", "counter", "MCP tool calls by server, tool and outcome (ok, tool_error, error).", "server", "tool", "outcome")
MCP_TOOL_SECONDS = _m("ferrogate_mcp_tool_call_seconds", "counter", "Seconds spent in MCP tool calls, by server and tool.", "server", "tool")

ALL: tuple[MetricName, ...] = (
    HTTP_RESPONSES, CONNECTIONS, INFLIGHT, STREAMS, RECORDS_DROPPED, REQUESTS, TOKENS, COST, DURATION,
    TTFT, OVERHEAD, UPSTREAM_ERRORS, RETRIES, FALLBACKS, CACHE, CACHE_SAVED, REJECTIONS, BREAKER,
    WORKER_RESTARTS, WORKERS, NODE_INFO, METERING_EXPORTED, METERING_FAILURES, METERING_OUTBOX, MCP_TOOL_CALLS,
    MCP_TOOL_SECONDS, OTLP_DROPPED,
)

# Seconds; the low end resolves gateway overhead (tens of microseconds), the high end long streams.
OVERHEAD_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# Error codes the governance phases answer with, as the rejection reasons they count as.
REJECTION_CODES = {
    "rate_limit_exceeded": "rate_limit",
    "budget_exceeded": "budget",
    "request_too_large": "request_too_large",
}


def exported_names() -> set[str]:
    """Every series name a scrape can show (counters' _total and histograms' parts included)."""
    names: set[str] = set()
    for m in ALL:
        if m.type == "counter":
            names |= {m.name + "_total", m.name + "_created"}
        elif m.type == "histogram":
            names |= {m.name + "_bucket", m.name + "_sum", m.name + "_count", m.name + "_created"}
        else:
            names.add(m.name)
    return names
