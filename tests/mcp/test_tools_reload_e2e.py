"""A reload that removes one MCP server and adds another: the new server's tools are listed and
run, the removed one's are gone, and its stdio child process is stopped (no orphan)."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import wait_until
from tests.support.mcp_configs import MOCK_AI, agent_key, stdio_test_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "sk-agent-reload-0001"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _config(server: str) -> str:
    return f"""
{MOCK_AI}
{agent_key(KEY)}
{stdio_test_server(server)}tools_to_execute = ["add"]
"""


def _servers_of(base_url: str) -> set[str]:
    answer = httpx.get(base_url + "/v1/tools", headers=AUTH, timeout=10)
    return {t["server"] for t in answer.json()["data"]} if answer.status_code == 200 else set()


def _mcp_children(tree: set[int]) -> set[int]:
    out = set()
    for pid in tree:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"tests.support.mcp_test_server" in cmdline:
            out.add(pid)
    return out


def test_a_reload_swaps_mcp_servers_and_stops_the_removed_ones_child(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(_config("first"), workers=2)
    wait_until(lambda: _servers_of(gw.base_url) == {"first"} or None, 20, "the first server's tools")
    (old_child,) = _mcp_children(gw.tree())
    gw.write_config(_config("second"))
    gw.signal(signal.SIGHUP)
    # Both workers (fresh connections each time) list only the new server's tools.
    wait_until(lambda: all(_servers_of(gw.base_url) == {"second"} for _ in range(6)) or None, 30, "the swap")
    answer = httpx.post(gw.base_url + "/v1/tools/execute", headers=AUTH, timeout=10,
                        json={"name": "second-add", "arguments": {"a": 2, "b": 3}})
    assert answer.status_code == 200 and answer.json()["content"][0]["text"] == "5"
    wait_until(lambda: old_child not in _mcp_children(gw.tree()) or None, 15, "the removed server's child to stop")
    assert not Path(f"/proc/{old_child}").exists() or b"zombie" in Path(f"/proc/{old_child}/status").read_bytes().lower()


def _config_with_admin(timeout_ms: int) -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"
{_config("kit")}timeout_ms = {timeout_ms}
"""


def test_a_tool_session_outlives_a_reload_and_can_be_added_to(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    admin = {"Authorization": "Bearer admin-token-session-reload"}
    gw = gateway_factory(_config_with_admin(3000), workers=1, env={"FG_ADMIN_TOKEN": "admin-token-session-reload"})
    wait_until(lambda: _servers_of(gw.base_url) == {"kit"} or None, 20, "the server's tools")
    first = httpx.post(gw.base_url + "/v1/tools/execute", headers=AUTH, timeout=10,
                       json={"name": "kit-add", "arguments": {"a": 1, "b": 2}}).json()["tool_session_id"]
    revision = httpx.get(gw.admin_url + "/admin/v1/status", headers=admin, timeout=10).json()["config_revision"]
    gw.write_config(_config_with_admin(4000))
    gw.signal(signal.SIGHUP)

    def reloaded() -> bool:
        try:
            status = httpx.get(gw.admin_url + "/admin/v1/status", headers=admin, timeout=10).json()
        except httpx.HTTPError:
            return False
        return status["config_revision"] != revision and _servers_of(gw.base_url) == {"kit"}

    wait_until(reloaded, 30, "the reload (a new control process) with the server back")
    kept = httpx.get(gw.admin_url + f"/admin/v1/tool-sessions/{first}", headers=admin, timeout=10)
    assert kept.status_code == 200 and [s["tool"] for s in kept.json()["steps"]] == ["kit-add"]
    again = httpx.post(gw.base_url + "/v1/tools/execute", headers=AUTH, timeout=10,
                       json={"name": "kit-add", "arguments": {"a": 3, "b": 4}, "tool_session_id": first})
    assert again.status_code == 200 and again.json()["tool_session_id"] == first
    steps = httpx.get(gw.admin_url + f"/admin/v1/tool-sessions/{first}", headers=admin, timeout=10).json()["steps"]
    assert [s["arguments"] for s in steps] == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
