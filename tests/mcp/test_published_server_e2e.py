"""A published MCP server (mcp-server-time, from PyPI, over stdio) behind a running gateway:
its tools are listed namespaced and one runs through /v1/tools/execute and through /mcp."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mcp_configs import MOCK_AI, agent_key

pytestmark = pytest.mark.e2e

SERVER = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mcp-server-time"
KEY = "sk-agent-time-0001"
CONFIG = f"""
{MOCK_AI}
{agent_key(KEY)}
[[mcp_servers]]
name = "time"
transport = "stdio"
command = "{SERVER}"
args = ["--local-timezone", "UTC"]
tools_to_execute = ["convert_time"]
"""
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(CONFIG, "toml", workers=2, directory=tmp_path_factory.mktemp("time"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        ready = gateway
        wait_until(lambda: httpx.get(ready.base_url + "/v1/tools", headers=AUTH, timeout=10).json().get("data") or None,
                   20, "the time server's tools")
        yield gateway
    finally:
        gateway.stop()


def test_the_published_servers_tools_are_listed_namespaced(gw: Gateway) -> None:
    data = httpx.get(gw.base_url + "/v1/tools", headers=AUTH, timeout=10).json()["data"]
    assert {t["function"]["name"]: t["executable"] for t in data} == {"time-get_current_time": False, "time-convert_time": True}


def test_a_published_servers_tool_runs_through_the_gateway(gw: Gateway) -> None:
    answer = httpx.post(gw.base_url + "/v1/tools/execute", headers=AUTH, timeout=10, json={
        "name": "time-convert_time",
        "arguments": {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
    })
    assert answer.status_code == 200, answer.text
    converted = json.loads(answer.json()["content"][0]["text"])
    assert converted["target"]["datetime"].endswith("T21:00:00+09:00")


def test_a_tool_outside_tools_to_execute_is_refused_over_mcp_too(gw: Gateway) -> None:
    answer = httpx.post(gw.base_url + "/mcp", headers={**AUTH, "Accept": "application/json, text/event-stream"}, timeout=10,
                        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                              "params": {"name": "time-get_current_time", "arguments": {"timezone": "UTC"}}})
    error = answer.json()["error"]
    assert error["data"]["code"] == "tool_not_allowed" and error["data"]["status"] == 403
