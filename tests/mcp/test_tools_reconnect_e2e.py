"""An MCP server over streamable HTTP that dies and comes back, behind a running gateway: calls
fail fast with 503 while it is away (never a hang), and work again once it is back, without
a reload."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mcp_configs import MOCK_AI, agent_key
from tests.support.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-agent-reconnect-0001"
SECRET = "header-secret-never-shown-8731"
TOKEN = "admin-token-for-reconnect-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _start_server(port: int = 0) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mcp_test_server", "http", "--port", str(port),
         "--require-header", f"X-Api-Key={SECRET}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "PORT n" once serving; EOF if it died
    if not line.startswith("PORT "):
        _stop(proc)
        raise RuntimeError(f"the MCP test server did not start: {line!r}")
    return proc, int(line.split()[1])


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def _config(port: int) -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

{MOCK_AI}
{agent_key(KEY)}
[[mcp_servers]]
name = "web"
transport = "streamable_http"
url = "http://127.0.0.1:{port}/mcp"
auth_type = "headers"
headers = [{{ name = "X-Api-Key", value_env = "FG_MCP_KEY" }}]
tools_to_execute = ["add"]
timeout_ms = 2000
"""


@pytest.fixture
def server_and_gateway(tmp_path: Path) -> Iterator[tuple[list[subprocess.Popen[str]], int, Gateway]]:
    proc, port = _start_server()
    procs = [proc]
    gw = start_gateway(_config(port), "toml", workers=2, env={"FG_MCP_KEY": SECRET, "FG_ADMIN_TOKEN": TOKEN}, directory=tmp_path)
    try:
        gw.wait_ready(DEFAULT_READY_SECS)
        yield procs, port, gw
    finally:
        gw.stop()
        for p in procs:
            if p.poll() is None:
                _stop(p)


def _add(gw: Gateway) -> httpx.Response:
    with httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=15) as c:
        return c.post("/v1/tools/execute", json={"name": "web-add", "arguments": {"a": 1, "b": 2}})


def test_a_server_that_dies_is_a_quick_503_and_works_again_when_it_returns(server_and_gateway) -> None:  # type: ignore[no-untyped-def]
    procs, port, gw = server_and_gateway
    assert wait_until(lambda: _add(gw).status_code == 200 or None, 20, "the first call")
    _stop(procs[0])
    started = time.monotonic()
    down = wait_until(lambda: ((r := _add(gw)).status_code == 503 and r) or None, 15, "a 503 while the server is away")
    assert down.json()["error"]["code"] == "mcp_server_unavailable"
    assert down.elapsed.total_seconds() < 3  # answered at once, not after the tool's timeout
    assert time.monotonic() - started < 15
    back, _ = _start_server(port)
    procs.append(back)
    answer = wait_until(lambda: ((r := _add(gw)).status_code == 200 and r) or None, 40, "the call after the server came back")
    assert answer.json()["content"][0]["text"] == "3"


def test_the_header_secret_appears_in_no_admin_answer_or_log(server_and_gateway) -> None:  # type: ignore[no-untyped-def]
    procs, _, gw = server_and_gateway
    assert wait_until(lambda: _add(gw).status_code == 200 or None, 20, "the first call")
    _stop(procs[0])
    wait_until(lambda: _add(gw).status_code == 503 or None, 15, "the server seen down")
    with httpx.Client(base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as admin:
        replies = [admin.get(p) for p in ("/admin/v1/mcp-servers", "/admin/v1/tools", "/admin/v1/extensions")]
    assert [r.status_code for r in replies] == [200, 200, 200]
    answers = [r.text for r in replies]
    (server,) = replies[0].json()["data"]
    assert server["state"] in ("down", "connecting") and server["last_error"]
    assert all(SECRET not in text for text in answers)
    assert SECRET not in gw.log()


def test_a_tool_of_a_server_that_never_connected_is_a_503_then_runs_once_it_is_up(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet
    gw = start_gateway(_config(port), "toml", workers=1, env={"FG_MCP_KEY": SECRET, "FG_ADMIN_TOKEN": TOKEN},
                       directory=tmp_path)
    procs: list[subprocess.Popen[str]] = []
    try:
        gw.wait_ready(DEFAULT_READY_SECS)
        call = {"name": "web-add", "arguments": {"a": 1, "b": 1}}
        down = httpx.post(gw.base_url + "/v1/tools/execute", json=call, headers=AUTH, timeout=10)
        assert down.status_code == 503 and down.json()["error"]["code"] == "mcp_server_unavailable"
        unknown = httpx.post(gw.base_url + "/v1/tools/execute", json={"name": "nowhere-add"}, headers=AUTH, timeout=10)
        assert unknown.status_code == 404
        procs.append(_start_server(port)[0])

        def ran() -> bool:
            return httpx.post(gw.base_url + "/v1/tools/execute", json=call, headers=AUTH, timeout=10).status_code == 200

        wait_until(ran, 30, "the server to connect and its tool to run")
    finally:
        gw.stop()
        for proc in procs:
            _stop(proc)
