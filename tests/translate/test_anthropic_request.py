"""OpenAI chat request → Anthropic Messages request."""

from __future__ import annotations

import pytest

from ferrogate.ai.translate.anthropic_request import JSON_TOOL, openai_chat_to_anthropic
from ferrogate.errors import GatewayError


def _tr(body: dict, default: int = 1024) -> dict:
    return openai_chat_to_anthropic(body, model="claude-x", default_max_tokens=default)[0]


def test_system_and_developer_messages_become_top_level_system() -> None:
    out = _tr({"messages": [{"role": "system", "content": "Be brief."},
                            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                            {"role": "user", "content": "Hi"}]})
    assert out["system"] == "Be brief.\n\nUse French."
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]


def test_max_tokens_uses_the_clients_value_else_the_default() -> None:
    msgs = [{"role": "user", "content": "Hi"}]
    assert _tr({"messages": msgs, "max_tokens": 50})["max_tokens"] == 50
    assert _tr({"messages": msgs, "max_completion_tokens": 60})["max_tokens"] == 60
    assert _tr({"messages": msgs}, default=777)["max_tokens"] == 777


def test_sampling_fields_and_stop_become_anthropic_fields() -> None:
    out = _tr({"messages": [{"role": "user", "content": "Hi"}], "temperature": 0.3, "top_p": 0.9, "stop": "END",
               "stream": True, "user": "u-1"})
    assert (out["temperature"], out["top_p"], out["stop_sequences"]) == (0.3, 0.9, ["END"])
    assert out["stream"] is True
    assert out["metadata"] == {"user_id": "u-1"}


def test_temperature_above_anthropics_range_is_clamped_to_one() -> None:
    assert _tr({"messages": [{"role": "user", "content": "x"}], "temperature": 1.7})["temperature"] == 1.0


def test_images_from_urls_and_data_uris_become_image_blocks() -> None:
    out = _tr({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
    ]}]})
    blocks = out["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    assert blocks[2] == {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}}


def test_tool_calls_and_results_keep_their_ids_and_merge_into_one_user_turn() -> None:
    out = _tr({"messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "w", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "24C"},
        {"role": "user", "content": "Thanks"},
    ]})
    assistant, results = out["messages"][1], out["messages"][2]
    assert [b["id"] for b in assistant["content"]] == ["call_1", "call_2"]
    assert assistant["content"][0]["input"] == {"city": "Paris"}
    assert results["role"] == "user"
    assert [b["type"] for b in results["content"]] == ["tool_result", "tool_result", "text"]
    assert [b.get("tool_use_id") for b in results["content"][:2]] == ["call_1", "call_2"]
    assert len(out["messages"]) == 3


def test_consecutive_user_messages_are_merged() -> None:
    out = _tr({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]


def test_tools_become_input_schema_tools() -> None:
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    out = _tr({"messages": [{"role": "user", "content": "x"}],
               "tools": [{"type": "function", "function": {"name": "w", "description": "weather", "parameters": params}}]})
    assert out["tools"] == [{"name": "w", "description": "weather", "input_schema": params}]


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "w"}}, {"type": "tool", "name": "w"}),
])
def test_tool_choice_maps_to_anthropics(choice: object, expected: dict) -> None:
    out = _tr({"messages": [{"role": "user", "content": "x"}], "tool_choice": choice,
               "tools": [{"type": "function", "function": {"name": "w"}}]})
    assert out["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_tool_use() -> None:
    out = _tr({"messages": [{"role": "user", "content": "x"}], "parallel_tool_calls": False,
               "tools": [{"type": "function", "function": {"name": "w"}}]})
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_json_schema_response_format_forces_the_json_tool() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    out, json_tool = openai_chat_to_anthropic(
        {"messages": [{"role": "user", "content": "x"}],
         "response_format": {"type": "json_schema", "json_schema": {"name": "num", "schema": schema}}},
        model="m", default_max_tokens=10)
    assert json_tool == JSON_TOOL
    assert out["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert out["tools"][-1]["input_schema"] == schema


def test_invalid_tool_arguments_are_a_400_naming_the_message() -> None:
    with pytest.raises(GatewayError) as exc:
        _tr({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "w", "arguments": "{not json"}}]}]})
    assert exc.value.status == 400
    assert exc.value.param == "messages[0].tool_calls"


def test_n_greater_than_one_is_rejected() -> None:
    with pytest.raises(GatewayError) as exc:
        _tr({"messages": [{"role": "user", "content": "x"}], "n": 2})
    assert exc.value.param == "n"


def test_reasoning_effort_enables_thinking_with_a_budget_below_max_tokens() -> None:
    out = _tr({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "medium", "max_tokens": 1000,
               "temperature": 0.2})
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert out["max_tokens"] > 4096
    assert "temperature" not in out


def test_reasoning_effort_is_ignored_when_a_tool_is_forced() -> None:
    out = _tr({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high", "tool_choice": "required",
               "tools": [{"type": "function", "function": {"name": "w"}}]})
    assert "thinking" not in out


def test_reasoning_effort_is_ignored_on_a_turn_that_answers_tool_calls() -> None:
    out = _tr({"reasoning_effort": "low", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]})
    assert "thinking" not in out


def test_cache_control_on_content_parts_passes_through() -> None:
    out = _tr({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}]}]})
    assert out["messages"][0]["content"][0] == {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}
