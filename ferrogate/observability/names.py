"""Every metric name FerroGate exports lives here, and only here.

Workers send counter deltas to the control process by these names
(:class:`ferrogate.ipc.CounterSample`), the control process aggregates them and
exposes them; dashboards and alerts depend on the spelling, so a name is
defined once, with its type, help text and label names, and imported wherever
it is used. Add new metrics to this module; never spell a metric name inline.
Names follow Prometheus conventions: ``ferrogate_`` prefix, base units
(seconds, bytes), ``_total`` for counters.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

MetricKind = Literal["counter", "gauge", "histogram"]


class MetricName(NamedTuple):
    name: str
    kind: MetricKind
    help: str
    labels: tuple[str, ...] = ()


# --------------------------------------------------------------------------- node and process lifecycle

BUILD_INFO = MetricName(
    "ferrogate_build_info",
    "gauge",
    "Always 1; labels carry the running version and node id.",
    ("version", "node_id"),
)
CONFIG_INFO = MetricName(
    "ferrogate_config_info",
    "gauge",
    "Always 1; the label carries the applied config revision.",
    ("revision",),
)
CONFIG_RELOADS_TOTAL = MetricName(
    "ferrogate_config_reloads_total",
    "counter",
    "Config reloads requested, by outcome.",
    ("outcome",),
)
WORKERS = MetricName(
    "ferrogate_workers", "gauge", "Worker processes by lifecycle state.", ("state",)
)
WORKER_RESTARTS_TOTAL = MetricName(
    "ferrogate_worker_restarts_total", "counter", "Workers respawned after they exited.", ("slot",)
)
READY = MetricName(
    "ferrogate_ready", "gauge", "1 when every worker slot is ready and the node is not draining."
)
DRAINING = MetricName(
    "ferrogate_draining", "gauge", "1 while the node is draining (readyz answers 503)."
)

# --------------------------------------------------------------------------- worker load (from heartbeats)

WORKER_INFLIGHT_REQUESTS = MetricName(
    "ferrogate_worker_inflight_requests", "gauge", "Requests in flight per worker.", ("slot",)
)
WORKER_CONNECTIONS = MetricName(
    "ferrogate_worker_connections", "gauge", "Open client connections per worker.", ("slot",)
)

# --------------------------------------------------------------------------- control plane

IPC_PEERS = MetricName(
    "ferrogate_ipc_peers", "gauge", "Connections to the control process's IPC socket.", ("kind",)
)
IPC_DROPPED_MESSAGES_TOTAL = MetricName(
    "ferrogate_ipc_dropped_messages_total",
    "counter",
    "IPC messages a worker dropped because its queue to the control process was full.",
)
ADMIN_REQUESTS_TOTAL = MetricName(
    "ferrogate_admin_requests_total",
    "counter",
    "Admin API requests by endpoint and status.",
    ("endpoint", "status"),
)

ALL: tuple[MetricName, ...] = (
    BUILD_INFO,
    CONFIG_INFO,
    CONFIG_RELOADS_TOTAL,
    WORKERS,
    WORKER_RESTARTS_TOTAL,
    READY,
    DRAINING,
    WORKER_INFLIGHT_REQUESTS,
    WORKER_CONNECTIONS,
    IPC_PEERS,
    IPC_DROPPED_MESSAGES_TOTAL,
    ADMIN_REQUESTS_TOTAL,
)
"""Every metric, for exporters that register them all and for the uniqueness test."""
