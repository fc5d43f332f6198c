"""The automatic tool loop (``x-ferrogate-tools: auto``) through a running gateway (2 workers):
the offline mock model asks for an MCP tool of a real MCP server (official SDK, stdio), the
gateway runs it and asks the model again; with the openai SDK, streamed and not, plus the
limits, the tool session, the records and the refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mcp_configs import MOCK_AI, stdio_test_server

pytestmark = pytest.mark.e2e

TOKEN = "admin-token-for-loop-tests"
AGENT = "sk-loop-agent-0001"
CHATTER = "sk-loop-chatter-0002"
LIMITED = "sk-loop-limited-0003"
AUTO = {"x-ferrogate-tools": "auto"}


def _config(max_steps: int = 4, telemetry: str = "") -> str:
    return f"""{telemetry}
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[agentic]
max_steps = {max_steps}

{MOCK_AI}
[[api_keys]]
id = "agent"
key = "{AGENT}"
scopes = ["chat.completions", "tools.read", "tools.execute"]

[[api_keys]]
id = "chatter"
key = "{CHATTER}"
scopes = ["chat.completions", "tools.read"]

[[api_keys]]
id = "limited"
key = "{LIMITED}"
scopes = ["chat.completions", "tools.execute"]
request_limit_per_minute = 2

[[policies]]
name = "no-echo-for-agent"
api_key_ids = ["agent"]
models = ["mcp_tool:kit-echo"]
message = "echo is not for the agent"

{stdio_test_server('kit')}tools_to_execute = ["add", "echo", "fail", "slow"]
tools_to_auto_execute = ["add", "echo", "fail"]
timeout_ms = 3000
"""


def _started(config: str, directory: Path) -> Gateway:
    gateway = start_gateway(config, "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN}, directory=directory)
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {AGENT}"}, timeout=10) as c:
            # The session opens in the background: wait until both workers have the catalogue.
            wait_until(lambda: all(len(c.get("/v1/tools").json()["data"]) == 4 for _ in range(4)) or None,
                       20, "the tools")
    except BaseException:
        gateway.stop()
        raise
    return gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = _started(_config(), tmp_path_factory.mktemp("tool-loop"))
    try:
        yield gateway
    finally:
        gateway.stop()


def _sdk(gw: Gateway, key: str = AGENT) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, default_headers=AUTO, max_retries=0)


def _admin(gw: Gateway) -> httpx.Client:
    return httpx.Client(base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def _logged_with_tool_call(gw: Gateway, request_id: str) -> dict[str, dict[str, Any]]:
    """The request log's rows of request ``request_id`` and of its one tool call, by request id."""

    def logged() -> dict[str, dict[str, Any]] | None:
        with _admin(gw) as admin:
            rows = admin.get("/admin/v1/request-logs", params={"limit": 200}).json()["data"]
        found = {r["request_id"]: r for r in rows if r["request_id"].startswith(request_id)}
        return found if len(found) == 2 else None

    found: dict[str, dict[str, Any]] = wait_until(logged, 10, "the chat request and its tool call in the request log")
    return found


def _session(gw: Gateway, session_id: str) -> dict[str, Any]:
    with _admin(gw) as admin:
        answer = admin.get(f"/admin/v1/tool-sessions/{session_id}")
    assert answer.status_code == 200, answer.text
    session: dict[str, Any] = answer.json()
    return session


def _ask(gw: Gateway, text: str, key: str = AGENT) -> Any:
    return _sdk(gw, key).chat.completions.with_raw_response.create(
        model="mock-model", messages=[{"role": "user", "content": text}]
    )


def test_the_gateway_runs_an_auto_execute_tool_and_returns_the_models_final_answer(gw: Gateway) -> None:
    raw = _ask(gw, "please use kit-add")
    answer = raw.parse()
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content.startswith("The tool returned: ")
    assert raw.headers["x-ferrogate-tool-steps"] == "2"
    assert raw.headers["x-ferrogate-tool-session"].startswith("ts_")


def test_the_tool_session_shows_each_model_call_and_tool_call_in_order(gw: Gateway) -> None:
    raw = _ask(gw, "please use kit-add")
    session = _session(gw, raw.headers["x-ferrogate-tool-session"])
    steps = session["steps"]
    assert [s["kind"] for s in steps] == ["model", "tool", "model"]
    first, tool, last = steps
    assert first["tool_calls"] == ["kit-add"] and first["finish_reason"] == "tool_calls"
    assert first["prompt_tokens"] > 0 and first["model"] == "mock-model" and first["provider"] == "mock"
    assert tool["tool"] == "kit-add" and set(tool["arguments"]) == {"a", "b"}
    assert tool["result"] == [{"type": "text", "text": str(tool["arguments"]["a"] + tool["arguments"]["b"])}]
    assert last["tool_calls"] == [] and last["finish_reason"] == "stop"
    assert session["key_id"] == "agent"


def test_the_answers_usage_is_the_sum_of_every_model_call(gw: Gateway) -> None:
    raw = _ask(gw, "please use kit-add")
    usage = raw.parse().usage
    models = [s for s in _session(gw, raw.headers["x-ferrogate-tool-session"])["steps"] if s["kind"] == "model"]
    assert usage.prompt_tokens == sum(s["prompt_tokens"] for s in models)
    assert usage.completion_tokens == sum(s["completion_tokens"] for s in models)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_a_tool_not_marked_auto_execute_goes_back_to_the_client_unrun(gw: Gateway) -> None:
    raw = _ask(gw, "please use kit-slow")
    answer = raw.parse()
    assert answer.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in answer.choices[0].message.tool_calls] == ["kit-slow"]
    assert raw.headers["x-ferrogate-tool-steps"] == "1"


def test_a_tool_that_fails_is_reported_to_the_model_which_answers(gw: Gateway) -> None:
    answer = _ask(gw, "please use kit-fail").parse()
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content.startswith("The tool returned: [tool error] ")


def test_a_tool_a_policy_denies_the_key_is_never_offered_to_the_model(gw: Gateway) -> None:
    raw = _ask(gw, "please use kit-echo")
    assert raw.parse().choices[0].finish_reason == "stop"
    steps = _session(gw, raw.headers["x-ferrogate-tool-session"])["steps"]
    assert [s["kind"] for s in steps] == ["model"] and steps[0]["tool_calls"] == []


def test_a_streamed_request_streams_the_final_answer_through_the_openai_sdk(gw: Gateway) -> None:
    stream = _sdk(gw).chat.completions.create(
        model="mock-model",
        messages=[{"role": "user", "content": "please use kit-add"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("The tool returned: ")
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_a_streamed_request_reports_each_tool_call_as_an_sse_comment(gw: Gateway) -> None:
    body = {"model": "mock-model", "stream": True, "messages": [{"role": "user", "content": "please use kit-add"}]}
    headers = {"Authorization": f"Bearer {AGENT}", **AUTO}
    with httpx.stream("POST", gw.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=10) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    comments = [line for line in lines if line.startswith(": tool_call ")]
    assert len(comments) == 1 and '"tool":"kit-add"' in comments[0] and '"is_error":false' in comments[0]
    assert lines[-1] == "data: [DONE]"
    assert lines.index(comments[0]) < lines.index(next(line for line in lines if line.startswith("data: ")))


def test_without_the_header_the_gateway_adds_no_tools(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=AGENT, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="mock-model", messages=[{"role": "user", "content": "please use kit-add"}]
    )
    assert raw.parse().choices[0].message.tool_calls is None
    assert "x-ferrogate-tool-session" not in raw.headers


def test_a_key_without_tools_execute_is_refused_naming_the_scope(gw: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(gw, "please use kit-add", key=CHATTER)
    assert "tools.execute" in refused.value.message


def test_an_unknown_header_value_is_a_400_naming_the_header(gw: Gateway) -> None:
    answer = httpx.post(
        gw.base_url + "/v1/chat/completions",
        json={"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {AGENT}", "x-ferrogate-tools": "always"},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "x-ferrogate-tools"


def test_every_tool_call_is_a_request_of_its_own_in_the_request_log(gw: Gateway) -> None:
    raw = _ask(gw, "please use kit-add")
    request_id = raw.headers["x-request-id"]
    found = _logged_with_tool_call(gw, request_id)
    chat, tool = found[request_id], found[request_id + ".t1"]
    assert chat["model"] == "mock-model" and chat["status"] == 200 and chat["input_tokens"] > 0
    assert tool["model"] == "kit-add" and tool["provider"] == "mcp:kit" and tool["status"] == 200


def test_a_tool_call_takes_a_request_from_the_keys_limit(gw: Gateway) -> None:
    first = _ask(gw, "please use kit-add", key=LIMITED)  # the chat request and its tool call: 2 of 2
    assert first.headers["x-ferrogate-tool-steps"] == "2"
    with pytest.raises(openai.RateLimitError):
        _ask(gw, "hello", key=LIMITED)


def test_past_max_steps_the_last_answer_goes_back_with_its_calls_unrun(tmp_path: Path) -> None:
    gateway = _started(_config(max_steps=1), tmp_path)
    try:
        raw = _ask(gateway, "please use kit-add")
        answer = raw.parse()
        assert answer.choices[0].finish_reason == "tool_calls"
        assert [c.function.name for c in answer.choices[0].message.tool_calls] == ["kit-add"]
        assert raw.headers["x-ferrogate-tool-steps"] == "1"
    finally:
        gateway.stop()


def test_with_tracing_on_a_tool_call_is_in_the_callers_trace(tmp_path: Path) -> None:
    """The loop's tool call is a request of its own in the log, in the trace the caller's
    ``traceparent`` named (a collector that is not there only loses the export)."""
    trace, span = "4bf9" * 8, "00f0" * 4  # a caller's ids (repeated patterns: not secrets to the audit)
    telemetry = '[telemetry]\notlp_endpoint = "http://127.0.0.1:9"\n'
    gateway = _started(_config(telemetry=telemetry), tmp_path)
    try:
        raw = _sdk(gateway).chat.completions.with_raw_response.create(
            model="mock-model", messages=[{"role": "user", "content": "please use kit-add"}],
            extra_headers={"traceparent": f"00-{trace}-{span}-01"},
        )
        request_id = raw.headers["x-request-id"]
        found = _logged_with_tool_call(gateway, request_id)
        assert found[request_id]["trace_id"] == trace
        assert found[request_id + ".t1"]["trace_id"] == trace
    finally:
        gateway.stop()
