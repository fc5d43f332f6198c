"""The offline mock behaves like a model with tools: an agent loop runs against `make run`'s config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import jsonschema
import openai
import pytest

from ferrogate.ai.providers.mock_answer import answer_chat, value_for
from tests.support.gateway import Gateway, run_gateway

ROOT = Path(__file__).resolve().parents[2]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
            },
            "required": ["city", "unit", "days", "tags", "where"],
        },
    },
}


@pytest.mark.parametrize(
    "schema",
    [
        WEATHER["function"]["parameters"],
        {"type": "object", "properties": {"a": {"const": 3}, "b": {"anyOf": [{"type": "null"}, {"type": "boolean"}]}}},
        {"type": "array", "items": {"type": "object", "properties": {"x": {"type": ["string", "null"]}}}},
        {"type": "object", "properties": {"n": {"type": "number", "minimum": 5.5}, "d": {"type": "string", "default": "z"}}},
    ],
)
def test_generated_value_is_valid_for_its_schema(schema: dict[str, Any]) -> None:
    jsonschema.validate(value_for(schema), schema)


def test_the_same_request_gets_the_same_answer() -> None:
    doc = {"messages": [{"role": "user", "content": "weather?"}], "tools": [WEATHER], "tool_choice": "required"}
    assert answer_chat(doc, "r") == answer_chat(doc, "r")


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    text = (ROOT / "config" / "gateway.toml").read_text()
    text = text.replace('listen = ":8080"', 'listen = "127.0.0.1:0"').replace('listen = "127.0.0.1:2019"', 'listen = "127.0.0.1:0"')
    with run_gateway(text, "toml", workers=1) as gw:
        yield gw


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="sk-ferrogate-dev", max_retries=0)


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_required_tool_choice_gets_a_call_with_valid_arguments(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model="gpt-4o-mini", messages=_user("hi"), tools=[WEATHER], tool_choice="required")
    call = out.choices[0].message.tool_calls[0]
    assert out.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])


def test_auto_calls_a_tool_the_user_asks_for(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model="gpt-4o-mini", messages=_user("please get_weather for Paris"), tools=[WEATHER])
    assert out.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_auto_answers_text_when_no_tool_is_asked_for(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model="gpt-4o-mini", messages=_user("Hello"), tools=[WEATHER])
    assert out.choices[0].message.tool_calls is None and out.choices[0].message.content


def test_tool_choice_none_answers_text(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model="gpt-4o-mini", messages=_user("get_weather"), tools=[WEATHER], tool_choice="none")
    assert out.choices[0].message.tool_calls is None


@pytest.mark.parametrize("stream", [False, True])
def test_an_agent_loop_runs_to_a_final_answer(client: openai.OpenAI, stream: bool) -> None:
    messages: list[Any] = _user("What is the weather? Use a tool.")
    for _ in range(3):
        if stream:
            name, args, call_id, text, finish = "", "", "", "", None
            for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER], stream=True):
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                for tc in delta.tool_calls or ():
                    name += tc.function.name or "" if tc.function else ""
                    args += tc.function.arguments or "" if tc.function else ""
                    call_id = tc.id or call_id
                text += delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
        else:
            out = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER])
            msg, finish = out.choices[0].message, out.choices[0].finish_reason
            text = msg.content or ""
            if msg.tool_calls:
                name, args, call_id = msg.tool_calls[0].function.name, msg.tool_calls[0].function.arguments, msg.tool_calls[0].id
        if finish != "tool_calls":
            assert "sunny, 21" in text
            return
        jsonschema.validate(json.loads(args), WEATHER["function"]["parameters"])
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}]})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": "sunny, 21 C"})
    pytest.fail("the agent loop did not end")


def test_json_schema_answer_validates(client: openai.OpenAI) -> None:
    schema = WEATHER["function"]["parameters"]
    out = client.chat.completions.create(
        model="gpt-4o-mini", messages=_user("hi"),
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}},
    )
    jsonschema.validate(json.loads(out.choices[0].message.content or ""), schema)


@pytest.mark.parametrize("stream", [False, True])
def test_responses_api_gets_a_function_call(client: openai.OpenAI, stream: bool) -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}
    if stream:
        events = list(client.responses.create(model="gpt-4o-mini", input="use a tool", tools=[tool], stream=True))
        final = next(e for e in events if e.type == "response.completed").response
        assert any(e.type == "response.function_call_arguments.delta" for e in events)
    else:
        final = client.responses.create(model="gpt-4o-mini", input="use a tool", tools=[tool])
    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    jsonschema.validate(json.loads(call.arguments), WEATHER["function"]["parameters"])


@pytest.mark.parametrize("stream", [False, True])
def test_messages_api_gets_a_tool_use_block(gateway: Gateway, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=gateway.base_url, api_key="sk-ferrogate-dev", max_retries=0)
    tool = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "max_tokens": 200, "tools": [tool], "messages": _user("use a tool")}
    if stream:
        with client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    block = next(b for b in message.content if b.type == "tool_use")
    assert message.stop_reason == "tool_use" and block.name == "get_weather"
    jsonschema.validate(block.input, WEATHER["function"]["parameters"])
