"""FerroGate's own MCP endpoint (`/mcp`, streamable HTTP) through a running gateway, driven by the
official mcp SDK client with a virtual key: one server over every tool the key may use, calls
through the same checks as /v1/tools/execute; and what an attacker's request gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.mcp.test_tools_e2e import AGENT, PLAIN, READER, TOKEN, _config
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(_config(), "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN},
                            directory=tmp_path_factory.mktemp("mcp-endpoint"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {AGENT}"}, timeout=10) as c:
            wait_until(lambda: all(len(c.get("/v1/tools").json().get("data", [])) == 5 for _ in range(4)) or None,
                       20, "the tools")
        yield gateway
    finally:
        gateway.stop()


def _session(gw: Gateway, key: str, work: Any) -> Any:
    async def go() -> Any:
        with anyio.fail_after(30):
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=15) as client,
                streamable_http_client(gw.base_url + "/mcp", http_client=client) as streams,
                ClientSession(streams[0], streams[1]) as session,
            ):
                init = await session.initialize()
                return init, await work(session)

    return anyio.run(go)


async def _list(session: ClientSession) -> list[str]:
    return sorted(t.name for t in (await session.list_tools()).tools)


def test_an_mcp_client_sees_the_gateway_as_one_server_with_the_keys_tools(gw: Gateway) -> None:
    init, names = _session(gw, AGENT, _list)
    assert init.server_info.name == "ferrogate" and init.capabilities.tools is not None
    assert names == ["kit-add", "kit-echo", "kit-fail", "kit-grow", "kit-slow"]


def test_a_policy_hides_a_tool_from_the_keys_mcp_client(gw: Gateway) -> None:
    _, names = _session(gw, READER, _list)
    assert "kit-echo" not in names and "kit-add" in names


def test_a_tool_call_through_mcp_runs_upstream(gw: Gateway) -> None:
    async def call(session: ClientSession) -> Any:
        return await session.call_tool("kit-add", {"a": 20, "b": 22})

    _, result = _session(gw, AGENT, call)
    assert result.is_error is False and result.content[0].text == "42"


def test_a_failing_tool_through_mcp_is_an_error_result(gw: Gateway) -> None:
    async def call(session: ClientSession) -> Any:
        return await session.call_tool("kit-fail", {})

    _, result = _session(gw, AGENT, call)
    assert result.is_error is True


def test_a_refused_call_through_mcp_is_a_protocol_error_naming_why(gw: Gateway) -> None:
    async def call(session: ClientSession) -> str:
        try:
            await session.call_tool("kit-add", {"a": 1, "b": 1})
        except Exception as exc:  # the SDK raises the JSON-RPC error
            return str(exc)
        return "no error"

    _, message = _session(gw, READER, call)  # the reader key lacks tools.execute
    assert "tools.execute" in message


def _post(gw: Gateway, body: object, **headers: str) -> httpx.Response:
    return httpx.post(gw.base_url + "/mcp", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {AGENT}", "Accept": "application/json, text/event-stream", **headers})


def test_the_mcp_endpoint_needs_a_key_with_tool_scopes(gw: Gateway) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert httpx.post(gw.base_url + "/mcp", json=ping, timeout=10).status_code == 401
    assert _post(gw, ping, Authorization=f"Bearer {PLAIN}").status_code == 403


def test_a_request_from_a_web_page_is_refused(gw: Gateway) -> None:
    answer = _post(gw, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, Origin="https://evil.example")
    assert answer.status_code == 403


def test_a_rebound_host_name_is_refused_too(gw: Gateway) -> None:
    answer = _post(gw, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                   Origin="http://evil.example", Host="evil.example")
    assert answer.status_code == 403


def test_malformed_json_rpc_gets_a_parse_error(gw: Gateway) -> None:
    answer = httpx.post(gw.base_url + "/mcp", content=b"{not json", timeout=10,
                        headers={"Authorization": f"Bearer {AGENT}", "Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == -32700


def test_an_unknown_method_is_method_not_found(gw: Gateway) -> None:
    answer = _post(gw, {"jsonrpc": "2.0", "id": 7, "method": "completion/complete"})
    assert answer.status_code == 200 and answer.json()["error"]["code"] == -32601


def test_a_notification_is_accepted_without_a_body(gw: Gateway) -> None:
    answer = _post(gw, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert answer.status_code == 202 and answer.content == b""


def test_get_offers_no_stream(gw: Gateway) -> None:
    answer = httpx.get(gw.base_url + "/mcp", headers={"Authorization": f"Bearer {AGENT}"}, timeout=10)
    assert answer.status_code == 405


def test_resources_and_prompts_are_empty_lists(gw: Gateway) -> None:
    resources = _post(gw, {"jsonrpc": "2.0", "id": 8, "method": "resources/list"}).json()
    prompts = _post(gw, {"jsonrpc": "2.0", "id": 9, "method": "prompts/list"}).json()
    assert (resources["result"], prompts["result"]) == ({"resources": []}, {"prompts": []})
