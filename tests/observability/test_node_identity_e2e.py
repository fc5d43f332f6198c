"""The node's identity (cluster.node_id, else $FERROGATE_NODE_ID, else the host name) on what
an operator reads: the status, the process logs, request records and metering events."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from tests.support.gateway import wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[telemetry]
log_format = "json"

[cluster]
node_id = "{node}"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"
input_price_per_1m = "1"
"""


def _row(gw: Any, path: str, request_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        rows = httpx.get(gw.admin_url + path, params={"limit": 100}, timeout=10).json()["data"]
        return next((r for r in rows if r["request_id"] == request_id), None)

    found: dict[str, Any] = wait_until(find, 10, f"{request_id} in {path}")
    return found


def test_the_node_id_names_the_status_metrics_logs_records_and_metering_events(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(CONFIG.format(node="edge-7"), workers=1)
    answer = httpx.post(gw.base_url + "/v1/chat/completions", timeout=10,
                        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    request_id = answer.headers["x-request-id"]
    assert httpx.get(gw.admin_url + "/admin/v1/status", timeout=10).json()["node_id"] == "edge-7"
    assert _row(gw, "/admin/v1/request-logs", request_id)["node_id"] == "edge-7"
    assert _row(gw, "/admin/v1/metering-events", request_id)["node_id"] == "edge-7"
    metrics = httpx.get(gw.admin_url + "/metrics", timeout=10).text
    assert 'ferrogate_node_info{node_id="edge-7",version="' in metrics
    lines = [line for line in gw.log().splitlines() if line.startswith("{")]
    assert lines and all('"node":"edge-7"' in line for line in lines)


def test_auto_is_the_host_name_without_the_environment_variable(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(CONFIG.format(node="auto"), workers=1)
    assert httpx.get(gw.admin_url + "/admin/v1/status", timeout=10).json()["node_id"] == socket.gethostname()
