"""Anthropic Messages requests in, OpenAI chat out (and back), validated with the anthropic SDK's models."""

from __future__ import annotations

import orjson
import pytest
from anthropic.types import Message

from ferrogate.ai.translate.messages_inbound import (
    anthropic_to_openai_chat,
    count_tokens_estimate,
    openai_chat_to_anthropic_message,
)
from ferrogate.ai.translate.messages_stream import OpenAIToAnthropicStream
from ferrogate.errors import GatewayError


def test_system_tools_and_tool_choice_become_openai_fields() -> None:
    out = anthropic_to_openai_chat({
        "model": "m", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": "Hi"}], "stop_sequences": ["END"], "temperature": 0.1,
        "tools": [{"name": "w", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True}, "stream": True,
    }, model="gpt-x")
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    assert out["tools"] == [{"type": "function", "function": {"name": "w", "description": "d",
                                                               "parameters": {"type": "object"}}}]
    assert (out["tool_choice"], out["parallel_tool_calls"]) == ("required", False)
    assert (out["stop"], out["temperature"], out["max_tokens"]) == (["END"], 0.1, 100)
    assert out["stream_options"] == {"include_usage": True}


def test_tool_use_and_tool_result_blocks_become_tool_calls_and_tool_messages() -> None:
    out = anthropic_to_openai_chat({"max_tokens": 10, "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "-3C"}]},
                                     {"type": "text", "text": "And tomorrow?"}]},
    ]}, model="m")
    assert out["messages"][1] == {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Oslo"}'}}]}
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "-3C"}
    assert out["messages"][3] == {"role": "user", "content": "And tomorrow?"}


def test_base64_image_becomes_a_data_uri() -> None:
    out = anthropic_to_openai_chat({"max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]}, model="m")
    assert out["messages"][0]["content"] == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]


def test_missing_max_tokens_is_an_error_naming_the_field() -> None:
    with pytest.raises(GatewayError) as exc:
        anthropic_to_openai_chat({"messages": [{"role": "user", "content": "x"}]}, model="m")
    assert exc.value.param == "max_tokens"


def test_openai_response_becomes_a_valid_anthropic_message() -> None:
    resp = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-x", "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Sure.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": '{"a": [1, 2]}'}}]}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37,
                  "prompt_tokens_details": {"cached_tokens": 10}}}
    msg = Message.model_validate(openai_chat_to_anthropic_message(resp))
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    assert msg.content[1].input == {"a": [1, 2]}  # type: ignore[union-attr]
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (20, 10, 7)
    assert msg.id.startswith("msg_")


def test_count_tokens_estimate_grows_with_the_conversation() -> None:
    small = count_tokens_estimate({"messages": [{"role": "user", "content": "Hi"}]})["input_tokens"]
    big = count_tokens_estimate({"messages": [{"role": "user", "content": "Hi " * 400}],
                                 "tools": [{"name": "w", "input_schema": {"type": "object"}}]})["input_tokens"]
    assert 0 < small < big


def test_count_tokens_passes_through_on_anthropic_and_is_estimated_elsewhere() -> None:
    import json

    from ferrogate.ai.providers.anthropic import AnthropicAdapter
    from ferrogate.ai.providers.gemini import GeminiAdapter
    from ferrogate.ai.translate.messages import count_tokens_body, count_tokens_call
    from ferrogate.config.model import Provider

    body = b'{"model":"claude-test","messages":[{"role":"user","content":"Hello there"}]}'
    call = count_tokens_call(AnthropicAdapter(Provider(name="a", kind="anthropic", api_key="k")), body, "claude-up")
    assert call is not None
    assert call.path == "/v1/messages/count_tokens"
    assert json.loads(call.body)["model"] == "claude-up"
    assert count_tokens_call(GeminiAdapter(Provider(name="g", kind="gemini")), body, "g") is None
    assert json.loads(count_tokens_body(body))["input_tokens"] > 0


def test_pdf_documents_become_file_parts_and_error_results_are_marked() -> None:
    out = anthropic_to_openai_chat({"max_tokens": 5, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": "boom"},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}]},
    ]}, model="m")
    assert out["messages"][1] == {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"}
    assert out["messages"][2]["content"] == [
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "document.pdf"}}]


def test_pass_through_forwards_anthropic_beta_when_the_request_carries_headers() -> None:
    from types import SimpleNamespace
    from typing import Any

    from ferrogate.ai.providers.anthropic import AnthropicAdapter
    from ferrogate.config.model import Provider

    adapter = AnthropicAdapter(Provider(name="a", kind="anthropic", api_key="k"))
    req: Any = SimpleNamespace(body=b'{"model":"x","max_tokens":1,"messages":[]}', model="x", stream=False,
                               headers=[(b"anthropic-beta", b"context-1m-2025-08-07"), (b"x-api-key", b"client")])
    call = adapter.messages_call(req, "claude-up")
    assert (b"anthropic-beta", b"context-1m-2025-08-07") in call.headers
    assert (b"x-api-key", b"k") in call.headers and (b"x-api-key", b"client") not in call.headers


def _anthropic_events(sse: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line[6:]) for line in sse.split(b"\n") if line.startswith(b"data: ")]


def test_text_chunks_give_the_same_anthropic_events_whether_or_not_their_shape_is_the_usual_one() -> None:
    texts = ["Hello", ' "quoted" \\ and \u00e9 \U0001f600', "\n"]
    usual = b"".join(
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{"content":' + orjson.dumps(t) + b'},"finish_reason":null}]}\n\n'
        for t in texts
    )
    # the same chunks with keys in another order: never the usual shape
    other = b"".join(
        b'data: {"choices":[{"delta":{"content":' + orjson.dumps(t) + b'},"finish_reason":null,"index":0}],'
        b'"id":"c","object":"chat.completion.chunk","created":1,"model":"m"}\n\n'
        for t in texts
    )
    start = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\ndata: {"id":"c","object":'
        b'"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"A"},'
        b'"finish_reason":null}]}\n\n'
    )
    end = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    outputs = []
    for body in (usual, other):
        tr = OpenAIToAnthropicStream(model="m", msg_id="msg_1")
        outputs.append(_anthropic_events(tr.feed(start) + tr.feed(body) + tr.feed(end) + tr.finish()))
        assert tr.complete
    assert outputs[0] == outputs[1]
    deltas = [e["delta"]["text"] for e in outputs[0] if e["type"] == "content_block_delta"]  # type: ignore[index]
    assert deltas == ["A", *texts]
