"""MCP servers over the legacy SSE transport and over stdio, behind a running gateway: a tool runs
over SSE, and a server that changes its tool list (notifications/tools/list_changed) changes
what every worker lists, without a reload."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mcp_configs import MOCK_AI, agent_key, stdio_test_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-agent-transports-0001"


def _config(sse_port: int) -> str:
    return f"""
{MOCK_AI}
{agent_key(KEY)}
[[mcp_servers]]
name = "legacy"
transport = "sse"
url = "http://127.0.0.1:{sse_port}/sse"
tools_to_execute = ["echo"]

{stdio_test_server('local')}tools_to_execute = ["grow", "grown"]
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    server = subprocess.Popen([sys.executable, "-m", "tests.support.mcp_test_server", "sse"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    gateway: Gateway | None = None
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("PORT "), line
        gateway = start_gateway(_config(int(line.split()[1])), "toml", workers=2,
                                directory=tmp_path_factory.mktemp("transports"))
        gateway.wait_ready(DEFAULT_READY_SECS)
        ready = gateway
        wait_until(lambda: len(_tools(ready)) >= 10 or None, 20, "both servers' tools")
        yield gateway
    finally:
        if gateway is not None:
            gateway.stop()
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def _tools(gw: Gateway) -> list[str]:
    answer = httpx.get(gw.base_url + "/v1/tools", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    return sorted(t["function"]["name"] for t in answer.json()["data"]) if answer.status_code == 200 else []


def _execute(gw: Gateway, name: str, arguments: dict[str, object]) -> httpx.Response:
    return httpx.post(gw.base_url + "/v1/tools/execute", json={"name": name, "arguments": arguments},
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=10)


def test_a_tool_runs_over_the_sse_transport(gw: Gateway) -> None:
    answer = _execute(gw, "legacy-echo", {"text": "over sse"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "over sse"


def test_a_changed_tool_list_reaches_every_worker_and_runs(gw: Gateway) -> None:
    assert "local-grown" not in _tools(gw)
    assert _execute(gw, "local-grow", {}).status_code == 200
    # Several requests over fresh connections: both workers must list it.
    wait_until(lambda: all("local-grown" in _tools(gw) for _ in range(6)) or None, 10, "the grown tool listed")
    answer = _execute(gw, "local-grown", {})
    assert answer.status_code == 200 and answer.json()["content"][0]["text"] == "grown"
