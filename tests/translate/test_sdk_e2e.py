"""End to end: the official openai and anthropic SDKs, through the gateway, to mock upstreams
speaking Anthropic's and Gemini's exact wire formats (JSON and SSE)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.ai.conftest import Gateway
from tests.support.mock_anthropic import Fault, Script, ToolCall
from tests.support.mock_gemini import GeminiScript
from tests.translate.conftest import Upstreams

_TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}]
_A_TOOLS: Any = [{"name": "get_weather", "description": "Weather for a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def _oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0, _strict_response_validation=True)


def _ant(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.base_url.removesuffix("/v1"), api_key="sk-client", max_retries=0)


# ---------------------------------------------------------------- OpenAI clients on Anthropic / Gemini


def test_openai_chat_on_anthropic_sends_a_messages_request_and_gets_a_chat_completion(gateway: Gateway, upstreams: Upstreams) -> None:
    raw = _oai(gateway).chat.completions.with_raw_response.create(
        model="claude-test", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    cc = ChatCompletion.model_validate(raw.http_response.json())
    assert cc.choices[0].message.content == "Hello from the mock Anthropic model."
    assert cc.usage is not None and cc.usage.total_tokens == 30
    sent = upstreams.anthropic.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-upstream"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json()["model"] == "claude-up"
    assert sent.json()["max_tokens"] == 333
    assert sent.json()["system"] == "Be brief."


def test_openai_stream_on_anthropic_delivers_text_and_the_usage_chunk(gateway: Gateway) -> None:
    stream = _oai(gateway).chat.completions.create(
        model="claude-test", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the mock Anthropic model."
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (21, 9)


def test_openai_stream_helper_assembles_anthropic_tool_calls(gateway: Gateway) -> None:
    with _oai(gateway).chat.completions.stream(
        model="claude-test", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=_TOOLS,
    ) as stream:
        final = stream.get_final_completion()
    call = (final.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3}
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_responses_api_on_anthropic_streams_and_completes(gateway: Gateway) -> None:
    client = _oai(gateway)
    resp = client.responses.create(model="claude-test", input="hi")
    assert resp.output_text == "Hello from the mock Anthropic model."
    events = list(client.responses.create(model="claude-test", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Hello from the mock Anthropic model."
    assert events[-1].response.usage is not None


def test_anthropic_upstream_overload_becomes_an_openai_error(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(status=529, message="Overloaded"))
    with pytest.raises(openai.APIStatusError) as exc:
        _oai(gateway).chat.completions.create(model="claude-test", messages=[{"role": "user", "content": "hi"}])
    assert exc.value.status_code in (502, 503)


def test_anthropic_stream_cut_before_message_stop_raises_in_the_openai_sdk(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(stop_after_events=5))
    with pytest.raises(openai.APIError):
        list(_oai(gateway).chat.completions.create(model="claude-test", messages=[{"role": "user", "content": "hi"}],
                                                   stream=True))


def test_openai_chat_on_gemini_stream_and_non_stream_agree(gateway: Gateway, upstreams: Upstreams) -> None:
    client = _oai(gateway)
    plain = client.chat.completions.create(model="gemini-test", messages=[{"role": "user", "content": "hi"}])
    chunks = list(client.chat.completions.create(model="gemini-test", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content == "Hello from the mock Gemini model."
    assert chunks[-1].usage == plain.usage
    sent = upstreams.gemini.requests[-1]
    assert sent.path == "/v1beta/models/gemini-up:streamGenerateContent?alt=sse"
    assert sent.headers["x-goog-api-key"] == "g-upstream-key"
    assert "key=" not in sent.path


def test_openai_tool_call_round_trip_on_gemini(gateway: Gateway, upstreams: Upstreams) -> None:
    client = _oai(gateway)
    first = client.chat.completions.create(model="gemini-test", messages=[{"role": "user", "content": "Paris?"}],
                                           tools=_TOOLS)
    call: Any = (first.choices[0].message.tool_calls or [])[0]
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3}
    second = client.chat.completions.create(model="gemini-test", tools=_TOOLS, messages=[
        {"role": "user", "content": "Paris?"}, first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 18}'}])
    assert second.choices[0].message.content == "Hello from the mock Gemini model."
    sent = upstreams.gemini.requests[-1].json()
    assert sent["contents"][-1]["parts"][0]["functionResponse"] == {"name": "get_weather", "response": {"temp": 18}}


def test_openai_embeddings_on_gemini(gateway: Gateway, upstreams: Upstreams) -> None:
    # the SDK asks for base64 by default and decodes it (strict validation would see the string)
    client = openai.OpenAI(base_url=gateway.base_url, api_key="sk-client", max_retries=0)
    out = client.embeddings.create(model="gemini-test", input=["a", "bb"], dimensions=3)
    assert [[round(x, 3) for x in d.embedding] for d in out.data] == [[0.1, 0.2, 0.3], [0.2, 0.3, 0.4]]
    assert upstreams.gemini.requests[-1].path == "/v1beta/models/gemini-up:batchEmbedContents"


def test_gemini_rate_limit_keeps_429(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.gemini.enqueue(Fault(status=429, message="Resource has been exhausted"))
    with pytest.raises(openai.RateLimitError):
        _oai(gateway).chat.completions.create(model="gemini-test", messages=[{"role": "user", "content": "hi"}])


# ---------------------------------------------------------------- Anthropic clients (/v1/messages)


@pytest.mark.parametrize("model", ["claude-test", "gpt-test", "gemini-test"])
def test_anthropic_sdk_messages_create_works_on_every_provider(gateway: Gateway, model: str) -> None:
    msg = _ant(gateway).messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["claude-test", "gpt-test", "gemini-test"])
def test_anthropic_sdk_stream_helper_gets_the_final_message(gateway: Gateway, model: str) -> None:
    with _ant(gateway).messages.stream(model=model, max_tokens=50,
                                       messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


@pytest.mark.parametrize("model", ["claude-test", "gemini-test"])
def test_anthropic_sdk_tool_use_streams_exact_input(gateway: Gateway, model: str) -> None:
    with _ant(gateway).messages.stream(model=model, max_tokens=50, tools=_A_TOOLS,
                                       messages=[{"role": "user", "content": "Paris?"}]) as stream:
        final = stream.get_final_message()
    block = next(b for b in final.content if b.type == "tool_use")
    assert (block.name, block.input) == ("get_weather", {"city": "Paris", "days": 3})
    assert final.stop_reason == "tool_use"


def test_messages_pass_through_to_anthropic_renames_only_the_model(gateway: Gateway, upstreams: Upstreams) -> None:
    _ant(gateway).messages.create(model="claude-test", max_tokens=7, messages=[{"role": "user", "content": "hi"}],
                                  metadata={"user_id": "u1"})
    sent = upstreams.anthropic.requests[-1].json()
    assert sent == {"model": "claude-up", "max_tokens": 7, "messages": [{"role": "user", "content": "hi"}],
                    "metadata": {"user_id": "u1"}}


def test_messages_upstream_rate_limit_is_an_anthropic_rate_limit_error(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(status=429, message="slow down"))
    with pytest.raises(anthropic.RateLimitError) as exc:
        _ant(gateway).messages.create(model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert exc.value.body["type"] == "error"  # type: ignore[index]


def test_messages_stream_cut_short_raises_in_the_anthropic_sdk(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(stop_after_events=4))
    with pytest.raises(anthropic.APIError), _ant(gateway).messages.stream(
        model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        stream.get_final_message()


def test_anthropic_thinking_and_cache_usage_reach_an_openai_client(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.script = Script(text="4", thinking="2+2", input_tokens=5, cache_read=1000, output_tokens=30,
                                        thinking_tokens=20)
    chunks = list(_oai(gateway).chat.completions.create(model="claude-test", messages=[{"role": "user", "content": "2+2"}],
                                                        stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens) == (1005, 1000)  # type: ignore[union-attr]
    assert usage.completion_tokens_details.reasoning_tokens == 20  # type: ignore[union-attr]


def test_gemini_multiple_function_calls_reach_an_anthropic_client(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.gemini.script = GeminiScript(text="", tool_calls=[ToolCall("a", {"x": 1}), ToolCall("b", {"y": [2]})])
    msg = _ant(gateway).messages.create(model="gemini-test", max_tokens=5, tools=_A_TOOLS,
                                        messages=[{"role": "user", "content": "go"}])
    assert [(b.name, b.input) for b in msg.content if b.type == "tool_use"] == [("a", {"x": 1}), ("b", {"y": [2]})]


def test_anthropic_overload_right_after_message_start_falls_back_before_any_byte(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(error_after_events=1))
    chunks = list(_oai(gateway).chat.completions.create(
        model="claude-then-gemini", messages=[{"role": "user", "content": "hi"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the mock Gemini model."


def test_messages_stream_falls_back_when_the_first_provider_fails_before_content(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(stop_after_events=2))
    with _ant(gateway).messages.stream(model="claude-then-gemini", max_tokens=9,
                                       messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Hello from the mock Gemini model."  # type: ignore[union-attr]


def test_openai_responses_stream_helper_on_anthropic_with_a_function_tool(gateway: Gateway) -> None:
    tools: Any = [{"type": "function", "name": "get_weather", "description": "Weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    with _oai(gateway).responses.stream(model="claude-test", input="Weather in Paris?", tools=tools) as stream:
        final = stream.get_final_response()
    call: Any = next(item for item in final.output if item.type == "function_call")
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris", "days": 3})
    assert final.status == "completed"


def test_messages_accepts_x_api_key_and_answers_bad_keys_anthropic_shaped(gateway: Gateway) -> None:
    import httpx

    url = gateway.base_url + "/messages"
    body = {"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    ok = httpx.post(url, json=body, headers={"x-api-key": "sk-client", "anthropic-version": "2023-06-01"})
    assert ok.status_code == 200 and ok.json()["type"] == "message"
    with pytest.raises(anthropic.AuthenticationError) as exc:
        anthropic.Anthropic(base_url=gateway.base_url.removesuffix("/v1"), api_key="wrong", max_retries=0).messages.create(
            model="gpt-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert exc.value.body["type"] == "error"  # type: ignore[index]
    assert exc.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
