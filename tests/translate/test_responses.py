"""Responses API over chat: input items → messages, chat result → output items."""

from __future__ import annotations

import pytest
from openai.types.responses import Response

from ferrogate.ai.translate.responses import chat_to_response, responses_to_chat
from ferrogate.errors import GatewayError


def test_instructions_and_items_become_chat_messages() -> None:
    chat = responses_to_chat({
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": '{"c":"Oslo"}'},
            {"type": "function_call", "call_id": "call_2", "name": "w", "arguments": '{"c":"Rome"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "-3C"},
            {"type": "function_call_output", "call_id": "call_2", "output": "20C"},
        ],
        "tools": [{"type": "function", "name": "w", "parameters": {"type": "object"}}],
        "max_output_tokens": 50, "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
    }, model="m")
    msgs = chat["messages"]
    assert msgs[0] == {"role": "system", "content": "Be brief."}
    assert msgs[1] == {"role": "user", "content": "Weather?"}
    assert [c["id"] for c in msgs[2]["tool_calls"]] == ["call_1", "call_2"]
    assert msgs[3:] == [{"role": "tool", "tool_call_id": "call_1", "content": "-3C"},
                        {"role": "tool", "tool_call_id": "call_2", "content": "20C"}]
    assert chat["tools"][0]["function"]["name"] == "w"
    assert chat["max_tokens"] == 50
    assert chat["response_format"]["json_schema"]["name"] == "x"


@pytest.mark.parametrize("field", ["previous_response_id", "background", "conversation"])
def test_stateful_fields_are_a_400_naming_the_field(field: str) -> None:
    with pytest.raises(GatewayError) as exc:
        responses_to_chat({"input": "hi", field: "x"}, model="m")
    assert exc.value.param == field


def test_hosted_tools_are_a_400() -> None:
    with pytest.raises(GatewayError) as exc:
        responses_to_chat({"input": "hi", "tools": [{"type": "web_search"}]}, model="m")
    assert exc.value.param == "tools[0]"


def test_chat_result_becomes_a_valid_response_with_items_and_usage() -> None:
    chat = {"id": "chatcmpl-1", "model": "claude-x", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": '{"c":"Oslo"}'}}]}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13,
                  "completion_tokens_details": {"reasoning_tokens": 2}}}
    resp = Response.model_validate(chat_to_response(chat, {"input": "hi"}, resp_id="resp_1", created_at=5))
    assert resp.status == "completed"
    assert resp.output_text == "Checking."
    fc = resp.output[1]
    assert (fc.type, fc.call_id, fc.name, fc.arguments) == ("function_call", "call_1", "w", '{"c":"Oslo"}')  # type: ignore[union-attr]
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.output_tokens_details.reasoning_tokens) == (9, 4, 2)


def test_length_finish_makes_the_response_incomplete() -> None:
    chat = {"model": "m", "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "x"}}]}
    resp = chat_to_response(chat, {"input": "hi"}, resp_id="resp_1")
    assert resp["status"] == "incomplete"
    assert resp["incomplete_details"] == {"reason": "max_output_tokens"}
