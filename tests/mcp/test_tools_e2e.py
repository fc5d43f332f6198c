"""MCP tools through a running gateway (2 workers, the sessions in the control process) against
a real MCP server on the official SDK over stdio: listing, deny by default, policies, scopes,
schema validation, tool errors, request limits, records, metrics and the admin routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mcp_configs import MOCK_AI, agent_key, stdio_test_server
from tests.support.metrics_scrape import parse, scrape_text, total

pytestmark = pytest.mark.e2e

TOKEN = "admin-token-for-tool-tests"
AGENT = "sk-agent-tools-0001"
READER = "sk-reader-tools-0002"
PLAIN = "sk-plain-no-tool-scopes"
LIMITED = "sk-limited-tools-0003"
SECOND = "sk-second-agent-0004"
SPENDER = "sk-spender-tools-0005"


def _config() -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

{MOCK_AI}
{agent_key(AGENT)}
[[api_keys]]
id = "reader"
key = "{READER}"
scopes = ["tools.read"]

[[api_keys]]
id = "plain"
key = "{PLAIN}"

[[api_keys]]
id = "second"
key = "{SECOND}"
scopes = ["tools.read", "tools.execute"]

[[api_keys]]
id = "spender"
key = "{SPENDER}"
scopes = ["tools.execute"]
monthly_cost_budget_usd = "0.5"

[[api_keys]]
id = "limited"
key = "{LIMITED}"
scopes = ["tools.read", "tools.execute"]
request_limit_per_minute = 2

[[policies]]
name = "no-echo-for-reader"
api_key_ids = ["reader"]
models = ["mcp_tool:kit-echo"]
message = "echo is not for readers"

[[policies]]
name = "no-fail-for-agent"
api_key_ids = ["agent"]
models = ["mcp_tool:kit-fail"]
providers = ["mcp:kit"]
message = "the agent may not fail"
enabled = false

{stdio_test_server('kit')}tools_to_execute = ["add", "echo", "fail", "slow"]
tool_include = ["add", "echo", "fail", "slow", "grow"]
timeout_ms = 1500
price_per_call = "0.002"
tool_prices = {{ add = "0.25" }}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(_config(), "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN},
                            directory=tmp_path_factory.mktemp("tools"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {AGENT}"}, timeout=10) as c:
            # The session opens in the background: wait until both workers have the catalogue.
            wait_until(lambda: all(len(_names(c.get("/v1/tools"))) == 5 for _ in range(4)) or None, 20, "the tools")
        yield gateway
    finally:
        gateway.stop()


def _names(answer: httpx.Response) -> list[str]:
    return sorted(t["function"]["name"] for t in answer.json()["data"]) if answer.status_code == 200 else []


def _client(gw: Gateway, key: str = AGENT) -> httpx.Client:
    return httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def _admin(gw: Gateway) -> httpx.Client:
    return httpx.Client(base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def _execute(gw: Gateway, body: object, key: str = AGENT, path: str = "/v1/tools/execute") -> httpx.Response:
    with _client(gw, key) as c:
        return c.post(path, json=body)


def test_tools_are_listed_namespaced_in_the_openai_function_shape(gw: Gateway) -> None:
    with _client(gw) as c:
        data = c.get("/v1/tools").json()["data"]
    by_name = {t["function"]["name"]: t for t in data}
    assert sorted(by_name) == ["kit-add", "kit-echo", "kit-fail", "kit-grow", "kit-slow"]
    add = by_name["kit-add"]
    assert add["type"] == "function" and add["server"] == "kit" and add["executable"] is True
    assert add["function"]["parameters"]["properties"].keys() == {"a", "b"}


def test_a_tool_outside_tools_to_execute_is_listed_but_not_run(gw: Gateway) -> None:
    with _client(gw) as c:
        grow = next(t for t in c.get("/v1/tools").json()["data"] if t["function"]["name"] == "kit-grow")
    assert grow["executable"] is False
    answer = _execute(gw, {"name": "kit-grow", "arguments": {}})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "tool_not_allowed"


def test_a_tool_runs_and_answers_its_mcp_content(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-add", "arguments": {"a": 2, "b": 40}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["isError"] is False and body["name"] == "kit-add" and body["server"] == "kit"
    assert body["content"][0]["text"] == "42"
    assert body["tool_session_id"].startswith("ts_") and body["duration_ms"] >= 0


def test_the_mcp_path_and_string_arguments_work_as_well(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-echo", "arguments": '{"text": "hi"}'}, path="/v1/mcp/tool/execute")
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "hi"


def test_arguments_that_fail_the_schema_are_a_400_naming_the_field(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-add", "arguments": {"a": "two", "b": 1}})
    assert answer.status_code == 400, answer.text
    assert "a" in (answer.json()["error"]["param"] or "")


def test_a_failing_tool_answers_is_error_not_a_gateway_error(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-fail"})
    assert answer.status_code == 200 and answer.json()["isError"] is True


def test_an_unknown_tool_is_a_404(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-nope", "arguments": {}})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "tool_not_found"


def test_a_slow_tool_is_a_504_within_its_timeout(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-slow", "arguments": {"seconds": 10}})
    assert answer.status_code == 504, answer.text
    assert answer.elapsed.total_seconds() < 5


def test_a_policy_hides_and_refuses_a_tool_for_its_key(gw: Gateway) -> None:
    with _client(gw, READER) as c:
        assert "kit-echo" not in _names(c.get("/v1/tools"))
    with _client(gw, AGENT) as c:
        assert "kit-echo" in _names(c.get("/v1/tools"))


def test_running_a_tool_needs_the_tools_execute_scope(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-add", "arguments": {"a": 1, "b": 1}}, key=READER)
    assert answer.status_code == 403 and "tools.execute" in answer.json()["error"]["message"]
    with _client(gw, PLAIN) as c:
        assert c.get("/v1/tools").status_code == 403


def test_a_tool_call_counts_against_the_keys_request_limit(gw: Gateway) -> None:
    statuses = [_execute(gw, {"name": "kit-add", "arguments": {"a": 1, "b": 2}}, key=LIMITED).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def _logged_row(gw: Gateway, request_id: str) -> dict[str, Any]:
    with _admin(gw) as admin:

        def logged() -> dict[str, Any] | None:
            rows = admin.get("/admin/v1/request-logs", params={"limit": 1000}).json()["data"]
            return next((r for r in rows if r["request_id"] == request_id), None)

        row: dict[str, Any] = wait_until(logged, 10, f"{request_id} in the request log")
    return row


def test_a_tool_call_is_metered_at_its_tools_price_else_its_servers(gw: Gateway) -> None:
    add = _execute(gw, {"name": "kit-add", "arguments": {"a": 1, "b": 2}})
    echo = _execute(gw, {"name": "kit-echo", "arguments": {"text": "priced"}})
    assert _logged_row(gw, add.headers["x-request-id"])["cost_usd"] == "0.25"
    assert _logged_row(gw, echo.headers["x-request-id"])["cost_usd"] == "0.002"


def test_priced_tool_calls_spend_the_keys_cost_budget(gw: Gateway) -> None:
    statuses = [_execute(gw, {"name": "kit-add", "arguments": {"a": 1, "b": 2}}, key=SPENDER) for _ in range(3)]
    assert [s.status_code for s in statuses] == [200, 200, 429]
    assert statuses[2].json()["error"]["code"] == "budget_exceeded"


def test_a_tool_call_is_recorded_and_counted(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-echo", "arguments": {"text": "logged"}})
    request_id = answer.headers["x-request-id"]
    with _admin(gw) as admin:

        def logged() -> dict[str, object] | None:
            rows = admin.get("/admin/v1/request-logs", params={"limit": 1000}).json()["data"]
            return next((r for r in rows if r["request_id"] == request_id), None)

        row = wait_until(logged, 10, "the tool call in the request log")
    assert (row["endpoint"], row["model"], row["provider"], row["status"]) == ("tools", "kit-echo", "mcp:kit", 200)
    samples = parse(scrape_text(gw))
    assert total(samples, "ferrogate_mcp_tool_calls_total", server="kit", tool="kit-echo", outcome="ok") >= 1


def test_the_admin_api_shows_servers_tools_and_tool_sessions(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-add", "arguments": {"a": 1, "b": 1}})
    session_id = answer.json()["tool_session_id"]
    again = _execute(gw, {"name": "kit-echo", "arguments": {"text": "x"}, "tool_session_id": session_id})
    assert again.json()["tool_session_id"] == session_id
    with _admin(gw) as admin:
        (server,) = admin.get("/admin/v1/mcp-servers").json()["data"]
        tools = admin.get("/admin/v1/tools").json()["data"]
        session = admin.get(f"/admin/v1/tool-sessions/{session_id}").json()
        extensions = admin.get("/admin/v1/extensions").json()["data"]
        missing = admin.get("/admin/v1/tool-sessions/ts_nope")
    assert server["name"] == "kit" and server["state"] == "ready" and server["tool_count"] == 5
    assert {t["name"] for t in tools} >= {"kit-add", "kit-grow"}
    assert [s["tool"] for s in session["steps"]] == ["kit-add", "kit-echo"]
    assert session["steps"][0]["arguments"] == {"a": 1, "b": 1}
    assert any(e["name"] == "mcp:kit" and e["kind"] == "tool_provider" for e in extensions)
    assert {e["name"] for e in extensions if e["kind"] == "request_hook"} == {"mcp_tools"}
    assert {e["name"] for e in extensions if e["kind"] == "event_sink"} == {"audit_log"}
    assert missing.status_code == 404


def test_a_made_up_tool_session_id_starts_a_new_session(gw: Gateway) -> None:
    made_up = "ts_" + "ab" * 12  # well formed, never issued: a caller cannot open a session by name
    answer = _execute(gw, {"name": "kit-add", "arguments": {"a": 1, "b": 1}, "tool_session_id": made_up})
    assert answer.status_code == 200 and answer.json()["tool_session_id"] != made_up
    with _admin(gw) as admin:
        assert admin.get(f"/admin/v1/tool-sessions/{made_up}").status_code == 404


def test_another_keys_tool_session_id_starts_a_new_session(gw: Gateway) -> None:
    mine = _execute(gw, {"name": "kit-add", "arguments": {"a": 1, "b": 1}}).json()["tool_session_id"]
    theirs = _execute(gw, {"name": "kit-add", "arguments": {"a": 1, "b": 1}, "tool_session_id": mine}, key=SECOND)
    assert theirs.status_code == 200 and theirs.json()["tool_session_id"] != mine


def test_a_tool_call_is_an_audit_event_of_its_key_without_its_arguments(gw: Gateway) -> None:
    answer = _execute(gw, {"name": "kit-echo", "arguments": {"text": "audit-me-not"}})
    request_id = answer.headers["x-request-id"]
    with _admin(gw) as admin:

        def audited() -> dict[str, object] | None:
            events = admin.get("/admin/v1/audit-events", params={"limit": 1000}).json()["data"]
            return next((e for e in events if e["change"].get("request_id") == request_id), None)

        event = wait_until(audited, 10, "the tool call's audit event")
    assert (event["actor"], event["action"], event["target"]) == ("key:agent", "tool.execute", "kit-echo")
    assert event["change"]["outcome"] == "ok" and "audit-me-not" not in str(event)
