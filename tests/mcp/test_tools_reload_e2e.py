"""A reload that removes one MCP server and adds another: the new server's tools are listed and
run, the removed one's are gone, and its stdio child process is stopped (no orphan)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import wait_until
from tests.support.mcp_configs import MOCK_AI

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-agent-reload-0001"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _config(server: str) -> str:
    return f"""
{MOCK_AI}
[[api_keys]]
id = "agent"
key = "{KEY}"
scopes = ["tools.read", "tools.execute"]

[[mcp_servers]]
name = "{server}"
transport = "stdio"
command = "{sys.executable}"
args = ["-m", "tests.support.mcp_test_server", "stdio"]
env = {{ PYTHONPATH = "{ROOT}" }}
tools_to_execute = ["add"]
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
