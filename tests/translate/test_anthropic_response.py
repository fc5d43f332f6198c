"""Anthropic Message → OpenAI ChatCompletion, validated with the openai SDK's own model."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from ferrogate.ai.translate.anthropic_request import JSON_TOOL
from ferrogate.ai.translate.anthropic_response import anthropic_to_openai_chat, usage_from_anthropic
from tests.support.mock_anthropic import Script, ToolCall, message_json


def test_text_reply_becomes_a_valid_chat_completion() -> None:
    out = anthropic_to_openai_chat(message_json(Script(text="Hi there"), "claude-x"))
    cc = ChatCompletion.model_validate(out)
    assert cc.choices[0].message.content == "Hi there"
    assert cc.choices[0].finish_reason == "stop"
    assert cc.model == "claude-x"


def test_tool_use_blocks_become_tool_calls_with_json_string_arguments() -> None:
    script = Script(text="", tool_calls=[ToolCall("w", {"city": "Paris"}, "toolu_1"), ToolCall("t", {}, "toolu_2")])
    cc = ChatCompletion.model_validate(anthropic_to_openai_chat(message_json(script, "m")))
    calls: list[Any] = list(cc.choices[0].message.tool_calls or [])
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("toolu_1", "w", '{"city":"Paris"}'), ("toolu_2", "t", "{}")]
    assert cc.choices[0].message.content is None
    assert cc.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(("stop", "finish"), [("end_turn", "stop"), ("stop_sequence", "stop"),
                                              ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                              ("refusal", "content_filter")])
def test_stop_reason_maps_to_finish_reason(stop: str, finish: str) -> None:
    assert anthropic_to_openai_chat(message_json(Script(stop_reason=stop), "m"))["choices"][0]["finish_reason"] == finish


def test_cache_reads_and_writes_count_as_prompt_tokens_and_reads_as_cached() -> None:
    script = Script(input_tokens=10, cache_read=1000, cache_creation=50, output_tokens=5)
    usage = anthropic_to_openai_chat(message_json(script, "m"))["usage"]
    assert usage["prompt_tokens"] == 1060
    assert usage["prompt_tokens_details"]["cached_tokens"] == 1000
    assert usage["total_tokens"] == 1065
    u = usage_from_anthropic(message_json(script, "m")["usage"])
    assert u is not None and u.cache_creation_tokens == 50


def test_thinking_becomes_reasoning_content_and_thinking_tokens_reasoning_tokens() -> None:
    script = Script(text="4", thinking="2+2 is 4", output_tokens=30, thinking_tokens=20)
    out = anthropic_to_openai_chat(message_json(script, "m"))
    assert out["choices"][0]["message"]["reasoning_content"] == "2+2 is 4"
    assert out["usage"]["completion_tokens_details"]["reasoning_tokens"] == 20


def test_forced_json_tool_input_becomes_the_message_text() -> None:
    script = Script(text="", tool_calls=[ToolCall(JSON_TOOL, {"n": 4})])
    out = anthropic_to_openai_chat(message_json(script, "m"), json_tool=JSON_TOOL)
    assert out["choices"][0]["message"]["content"] == '{"n":4}'
    assert out["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in out["choices"][0]["message"]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'"x"'])
def test_a_non_object_upstream_body_is_a_502_not_a_crash(body: bytes) -> None:
    from ferrogate.ai.providers.anthropic import AnthropicAdapter
    from ferrogate.ai.providers.base import ClientRequest, Endpoint
    from ferrogate.config.model import Provider
    from ferrogate.errors import GatewayError

    adapter = AnthropicAdapter(Provider(name="a", kind="anthropic"))
    req = ClientRequest(endpoint=Endpoint.CHAT, body=b'{"model":"m","messages":[]}', model="m")
    with pytest.raises(GatewayError) as exc:
        adapter.translate_response(req, body)
    assert exc.value.status == 502
