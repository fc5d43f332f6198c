"""Streamed and non-streamed answers to the same conversation yield identical usage, per provider
and per client wire format (including cached and reasoning tokens)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from ferrogate.ai.providers.anthropic import AnthropicAdapter
from ferrogate.ai.providers.base import ClientRequest, Endpoint, ProviderAdapter
from ferrogate.ai.providers.gemini import GeminiAdapter
from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter
from ferrogate.ai.schemas import ChatHead
from ferrogate.ai.translate import messages, responses
from ferrogate.ai.usage import Usage
from ferrogate.config.model import Provider
from tests.support.mock_anthropic import Script, ToolCall, message_events, message_json
from tests.support.mock_gemini import GeminiScript, gemini_events, gemini_json

_CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
_MESSAGES = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
_RESPONSES = {"model": "m", "input": "hi"}


def _req(endpoint: Endpoint, doc: dict, stream: bool) -> ClientRequest:
    body = json.dumps({**doc, "stream": stream}).encode()
    head = msgspec.json.decode(body, type=ChatHead) if endpoint is Endpoint.CHAT else None
    return ClientRequest(endpoint=endpoint, body=body, model="m", stream=stream, head=head)


def _both(adapter: ProviderAdapter, endpoint: Endpoint, doc: dict, json_body: bytes, sse: bytes) -> tuple[Usage, Usage]:
    _, plain = adapter.translate_response(_req(endpoint, doc, False), json_body)
    t = adapter.stream_translator(_req(endpoint, doc, True))
    t.feed(sse)
    t.finish()
    assert t.complete
    assert plain is not None and t.usage is not None
    return plain, t.usage


def _strip(u: Usage) -> tuple:
    return (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens, u.reasoning_tokens, u.source)


_ANTHROPIC_SCRIPTS = [
    Script(),
    Script(input_tokens=12, cache_read=2048, cache_creation=100, output_tokens=40),
    Script(text="4", thinking="2+2", output_tokens=60, thinking_tokens=45),
    Script(text="", tool_calls=[ToolCall("w", {"city": "Oslo"}), ToolCall("t", {"tz": "UTC"})], output_tokens=33),
]
_GEMINI_SCRIPTS = [
    GeminiScript(),
    GeminiScript(prompt_tokens=3000, cached_tokens=2048, candidates_tokens=12),
    GeminiScript(thought="think", thoughts_tokens=150),
    GeminiScript(text="", tool_calls=[ToolCall("w", {"city": "Oslo"})]),
]


@pytest.mark.parametrize("script", _ANTHROPIC_SCRIPTS)
@pytest.mark.parametrize(("endpoint", "doc"), [(Endpoint.CHAT, _CHAT), (Endpoint.MESSAGES, _MESSAGES),
                                               (Endpoint.RESPONSES, _RESPONSES)])
def test_anthropic_usage_is_the_same_streamed_or_not(script: Script, endpoint: Endpoint, doc: dict) -> None:
    adapter: ProviderAdapter = AnthropicAdapter(Provider(name="a", kind="anthropic", api_key="k"))
    if endpoint is Endpoint.MESSAGES:
        adapter = messages.wrap(adapter)
    elif endpoint is Endpoint.RESPONSES:
        adapter = responses.wrap(adapter)
    plain, streamed = _both(adapter, endpoint, doc, json.dumps(message_json(script, "claude")).encode(),
                            b"".join(message_events(script, "claude")))
    assert _strip(plain) == _strip(streamed)
    assert plain.cache_creation_tokens == streamed.cache_creation_tokens == script.cache_creation
    assert plain.reasoning_tokens == script.thinking_tokens


@pytest.mark.parametrize("script", _GEMINI_SCRIPTS)
@pytest.mark.parametrize(("endpoint", "doc"), [(Endpoint.CHAT, _CHAT), (Endpoint.MESSAGES, _MESSAGES),
                                               (Endpoint.RESPONSES, _RESPONSES)])
def test_gemini_usage_is_the_same_streamed_or_not(script: GeminiScript, endpoint: Endpoint, doc: dict) -> None:
    adapter: ProviderAdapter = GeminiAdapter(Provider(name="g", kind="gemini", api_key="k"))
    if endpoint is Endpoint.MESSAGES:
        adapter = messages.wrap(adapter)
    elif endpoint is Endpoint.RESPONSES:
        adapter = responses.wrap(adapter)
    plain, streamed = _both(adapter, endpoint, doc, json.dumps(gemini_json(script, "gemini")).encode(),
                            b"".join(gemini_events(script, "gemini")))
    assert _strip(plain) == _strip(streamed)
    assert plain.cached_tokens == script.cached_tokens
    assert plain.reasoning_tokens == script.thoughts_tokens


def _openai_pair(prompt: int, cached: int, completion: int, reasoning: int) -> tuple[bytes, bytes]:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
             "prompt_tokens_details": {"cached_tokens": cached},
             "completion_tokens_details": {"reasoning_tokens": reasoning}}
    base = {"id": "chatcmpl-1", "created": 1, "model": "gpt"}
    plain = {**base, "object": "chat.completion", "usage": usage, "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hello there"}}]}
    chunk = {**base, "object": "chat.completion.chunk"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**chunk, "choices": [], "usage": usage},
    ]
    sse = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    return json.dumps(plain).encode(), sse


@pytest.mark.parametrize(("prompt", "cached", "completion", "reasoning"), [(10, 0, 5, 0), (5000, 4096, 300, 200)])
def test_messages_inbound_on_an_openai_provider_has_the_same_usage_streamed_or_not(
    prompt: int, cached: int, completion: int, reasoning: int
) -> None:
    inner: Any = OpenAICompatibleAdapter(Provider(name="o", kind="openai-compatible", base_url="http://x/v1"))
    adapter = messages.wrap(inner)
    json_body, sse = _openai_pair(prompt, cached, completion, reasoning)
    plain, streamed = _both(adapter, Endpoint.MESSAGES, _MESSAGES, json_body, sse)
    assert _strip(plain) == _strip(streamed)
    assert (streamed.prompt_tokens, streamed.cached_tokens, streamed.reasoning_tokens) == (prompt, cached, reasoning)
