"""The offline mock behaves like a model with tools: an agent loop runs against `make run`'s config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import anthropic
import httpx
import jsonschema
import openai
import pydantic
import pytest

from ferrogate.ai.providers.mock_answer import answer_chat
from tests.support.gateway import Gateway, run_gateway

ROOT = Path(__file__).resolve().parents[2]
WEATHER: Any = {
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


def test_the_same_request_gets_the_same_answer() -> None:
    doc = {"messages": [{"role": "user", "content": "weather?"}], "tools": [WEATHER], "tool_choice": "required"}
    assert answer_chat(doc, "r") == answer_chat(doc, "r")


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    """`make run`'s default config (Ferrogate/Caddyfile), on ephemeral ports."""
    text = (ROOT / "Ferrogate" / "Caddyfile").read_text()
    text = text.replace(":8080 {", "127.0.0.1:0 {", 1).replace("admin 127.0.0.1:2019", "admin 127.0.0.1:0", 1)
    with run_gateway(text, "caddyfile", workers=1, env={"FERROGATE_DEV_KEY": "sk-ferrogate-dev"}) as gw:
        yield gw


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="sk-ferrogate-dev", max_retries=0)


def _user(text: str) -> Any:
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
    tool: Any = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "max_tokens": 200, "tools": [tool], "messages": _user("use a tool")}
    if stream:
        with client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    block = next(b for b in message.content if b.type == "tool_use")
    assert message.stop_reason == "tool_use" and block.name == "get_weather"
    jsonschema.validate(block.input, WEATHER["function"]["parameters"])


def _sse_data(gateway: Gateway, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON of every ``data:`` line of a streamed answer, read with a plain HTTP client."""
    headers = {"authorization": "Bearer sk-ferrogate-dev"}
    with httpx.stream("POST", gateway.base_url + path, json=body, headers=headers, timeout=30) as resp:
        assert resp.status_code == 200
        lines = [ln[6:] for ln in resp.iter_lines() if ln.startswith("data: ")]
    return [json.loads(ln) for ln in lines if ln != "[DONE]"]


def test_a_streamed_tool_call_has_openais_chunk_shape(gateway: Gateway) -> None:
    body = {
        "model": "gpt-4o-mini", "messages": _user("hi"), "tools": [WEATHER], "tool_choice": "required",
        "stream": True, "stream_options": {"include_usage": True},
    }
    chunks = _sse_data(gateway, "/v1/chat/completions", body)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    first, rest = calls[0], calls[1:]
    assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert len(rest) > 1 and all(set(c) == {"index", "function"} and set(c["function"]) == {"arguments"} for c in rest)
    args = "".join(c["function"]["arguments"] for c in rest)
    jsonschema.validate(json.loads(args), WEATHER["function"]["parameters"])
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_a_named_tool_choice_calls_that_tool(client: openai.OpenAI) -> None:
    other: Any = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
    out = client.chat.completions.create(
        model="gpt-4o-mini", messages=_user("hi"), tools=[WEATHER, other],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert out.choices[0].message.tool_calls[0].function.name == "get_time"


def test_json_object_answer_is_a_json_object(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(model="gpt-4o-mini", messages=_user("hi"), response_format={"type": "json_object"})
    assert isinstance(json.loads(out.choices[0].message.content or ""), dict)


class Trip(pydantic.BaseModel):
    city: str = pydantic.Field(min_length=2)
    nights: int = pydantic.Field(ge=1, le=14)
    kind: Literal["beach", "city"]


def test_the_sdks_structured_output_parser_accepts_the_answer(client: openai.OpenAI) -> None:
    out = client.chat.completions.parse(model="gpt-4o-mini", messages=_user("plan a trip"), response_format=Trip)
    trip = out.choices[0].message.parsed
    assert isinstance(trip, Trip) and trip.kind == "beach"


RESPONSES_TOOL: Any = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}


def test_responses_stream_has_the_function_call_events(gateway: Gateway) -> None:
    body = {"model": "gpt-4o-mini", "input": "use a tool", "tools": [RESPONSES_TOOL], "stream": True}
    events = _sse_data(gateway, "/v1/responses", body)
    kinds = [e["type"] for e in events]
    added = events[kinds.index("response.output_item.added")]["item"]
    assert added["type"] == "function_call" and added["name"] == "get_weather" and added["arguments"] == ""
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    done = events[kinds.index("response.function_call_arguments.done")]["arguments"]
    assert deltas == done and events[kinds.index("response.output_item.done")]["item"]["arguments"] == done
    assert kinds[-1] == "response.completed" and [e["sequence_number"] for e in events] == list(range(len(events)))


def test_responses_agent_loop_ends_with_text_quoting_the_tool_output(client: openai.OpenAI) -> None:
    first = client.responses.create(model="gpt-4o-mini", input="use a tool", tools=[RESPONSES_TOOL])
    call = first.output[0]
    assert call.type == "function_call"
    follow_up: list[Any] = [
        {"role": "user", "content": "use a tool"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
    ]
    final = client.responses.create(model="gpt-4o-mini", input=follow_up, tools=[RESPONSES_TOOL])
    assert "sunny, 21 C" in final.output_text and final.output[0].type == "message"


def test_responses_json_schema_text_format_validates(client: openai.OpenAI) -> None:
    schema = WEATHER["function"]["parameters"]
    out = client.responses.create(
        model="gpt-4o-mini", input="hi", text={"format": {"type": "json_schema", "name": "w", "schema": schema}},
    )
    jsonschema.validate(json.loads(out.output_text), schema)


def test_messages_stream_sends_input_json_deltas(gateway: Gateway) -> None:
    tool: Any = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}
    body = {"model": "gpt-4o-mini", "max_tokens": 200, "tools": [tool], "messages": _user("use a tool"), "stream": True}
    events = _sse_data(gateway, "/v1/messages", body)
    start = next(e for e in events if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use")
    assert start["content_block"]["name"] == "get_weather" and start["content_block"]["input"] == {}
    partial = [e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"]
    assert len(partial) > 1
    jsonschema.validate(json.loads("".join(partial)), WEATHER["function"]["parameters"])


def test_messages_agent_loop_ends_with_text_quoting_the_tool_result(gateway: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.base_url, api_key="sk-ferrogate-dev", max_retries=0)
    tool: Any = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}
    messages: list[Any] = _user("use a tool")
    first = client.messages.create(model="gpt-4o-mini", max_tokens=200, tools=[tool], messages=messages)
    use = next(b for b in first.content if b.type == "tool_use")
    messages += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}]},
    ]
    final = client.messages.create(model="gpt-4o-mini", max_tokens=200, tools=[tool], messages=messages)
    assert final.stop_reason == "end_turn"
    assert "sunny, 21 C" in "".join(b.text for b in final.content if b.type == "text")


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-4o-mini", "messages": 1},
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "use a tool"}], "tools": 5},
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "use a tool"}], "tool_choice": "required",
         "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "required": 5, "minProperties": "x"}}}]},
    ],
)
def test_malformed_messages_or_tool_schemas_get_an_answer_not_a_500(gateway: Gateway, body: dict[str, Any]) -> None:
    import httpx

    r = httpx.post(gateway.base_url + "/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-ferrogate-dev"})
    assert r.status_code < 500, r.text
