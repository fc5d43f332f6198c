"""OpenAI chat/embeddings ↔ Gemini generateContent / embedContent."""

from __future__ import annotations

import base64
import struct

import pytest
from openai.types.chat import ChatCompletion

from ferrogate.ai.translate.gemini_embeddings import (
    gemini_embeddings_to_openai,
    openai_embeddings_to_gemini,
)
from ferrogate.ai.translate.gemini_request import gemini_schema, openai_chat_to_gemini
from ferrogate.ai.translate.gemini_response import gemini_to_openai_chat
from ferrogate.errors import GatewayError
from tests.support.mock_gemini import GeminiScript, ToolCall, gemini_json


def test_roles_become_user_and_model_and_system_becomes_system_instruction() -> None:
    out = openai_chat_to_gemini({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
    ]})
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in out["contents"]] == ["user", "model", "user"]
    assert out["contents"][1]["parts"] == [{"text": "Hello"}]


def test_tool_calls_and_results_become_function_call_and_function_response_parts() -> None:
    out = openai_chat_to_gemini({"messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": '{"temp": 18}'},
        {"role": "tool", "tool_call_id": "call_9", "content": "plain text"},
    ]})
    assert out["contents"][1]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    assert out["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
        {"functionResponse": {"name": "get_weather", "response": {"content": "plain text"}}},
    ]}


def test_tool_result_for_an_unknown_call_is_a_400() -> None:
    with pytest.raises(GatewayError) as exc:
        openai_chat_to_gemini({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]})
    assert exc.value.param == "messages[0].tool_call_id"


def test_tools_choice_and_generation_config_map_to_gemini_fields() -> None:
    params = {"type": "object", "additionalProperties": False, "$schema": "x",
              "properties": {"city": {"type": ["string", "null"]}}, "required": ["city"]}
    out = openai_chat_to_gemini({
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "w", "description": "d", "parameters": params}}],
        "tool_choice": {"type": "function", "function": {"name": "w"}},
        "temperature": 0.2, "top_p": 0.5, "max_tokens": 99, "stop": ["END"],
    })
    decl = out["tools"][0]["functionDeclarations"][0]
    assert decl["parameters"] == {"type": "object", "properties": {"city": {"type": "string", "nullable": True}},
                                  "required": ["city"]}
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["w"]}}
    assert out["generationConfig"] == {"temperature": 0.2, "topP": 0.5, "maxOutputTokens": 99, "stopSequences": ["END"]}


def test_json_schema_response_format_becomes_response_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False}
    out = openai_chat_to_gemini({"messages": [{"role": "user", "content": "x"}],
                                 "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}})
    assert out["generationConfig"]["responseMimeType"] == "application/json"
    assert out["generationConfig"]["responseSchema"] == gemini_schema(schema)
    assert "additionalProperties" not in out["generationConfig"]["responseSchema"]


def test_image_data_uri_becomes_inline_data() -> None:
    out = openai_chat_to_gemini({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]})
    assert out["contents"][0]["parts"] == [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]


def test_response_with_text_and_usage_becomes_a_valid_chat_completion() -> None:
    script = GeminiScript(text="Blue.", thought="Rayleigh", prompt_tokens=10, candidates_tokens=2,
                          cached_tokens=4, thoughts_tokens=30)
    out = gemini_to_openai_chat(gemini_json(script, "gemini-2.5-flash"), model="g", chat_id="chatcmpl-1")
    cc = ChatCompletion.model_validate(out)
    assert cc.choices[0].message.content == "Blue."
    assert out["choices"][0]["message"]["reasoning_content"] == "Rayleigh"
    assert out["usage"]["prompt_tokens"] == 10
    assert out["usage"]["completion_tokens"] == 32
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert out["usage"]["completion_tokens_details"]["reasoning_tokens"] == 30


def test_function_calls_become_tool_calls_with_finish_reason_tool_calls() -> None:
    script = GeminiScript(text="", tool_calls=[ToolCall("w", {"city": "Rome"})])
    out = gemini_to_openai_chat(gemini_json(script, "g"), model="g", chat_id="chatcmpl-abc")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "w", "arguments": '{"city":"Rome"}'}
    assert choice["message"]["tool_calls"][0]["id"] == "call_abc_0"


@pytest.mark.parametrize(("raw", "finish"), [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                             ("RECITATION", "content_filter"), ("OTHER", "stop")])
def test_finish_reason_maps_to_openai(raw: str, finish: str) -> None:
    out = gemini_to_openai_chat(gemini_json(GeminiScript(finish_reason=raw), "g"), model="g", chat_id="c")
    assert out["choices"][0]["finish_reason"] == finish


def test_blocked_prompt_gives_content_filter() -> None:
    resp = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}
    out = gemini_to_openai_chat(resp, model="g", chat_id="c")
    assert out["choices"][0]["finish_reason"] == "content_filter"


def test_one_input_uses_embed_content_and_a_list_uses_batch() -> None:
    method, body, n = openai_embeddings_to_gemini({"input": "hi", "dimensions": 8}, model="text-embedding-004")
    assert (method, n) == ("embedContent", 1)
    assert body == {"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 8}
    method, body, n = openai_embeddings_to_gemini({"input": ["a", "b"]}, model="text-embedding-004")
    assert (method, n) == ("batchEmbedContents", 2)
    assert body["requests"][1] == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}}


def test_embeddings_response_is_openai_shaped_with_estimated_usage() -> None:
    out, usage = gemini_embeddings_to_openai({"embeddings": [{"values": [0.5, 1.0]}, {"values": [2.0, 0.0]}]},
                                             {"input": ["abcd", "efgh"]}, model="e")
    assert [d["embedding"] for d in out["data"]] == [[0.5, 1.0], [2.0, 0.0]]
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert usage.source == "estimated"
    assert out["usage"]["prompt_tokens"] == usage.prompt_tokens > 0


def test_base64_encoding_format_packs_little_endian_float32() -> None:
    out, _ = gemini_embeddings_to_openai({"embedding": {"values": [0.5, -2.0]}}, {"input": "x", "encoding_format": "base64"},
                                         model="e")
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -2.0)


def test_thought_signature_rides_in_the_tool_call_id_and_goes_back_to_gemini() -> None:
    sig = "CiQB0e2Kb+/x/9=="
    resp = {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "w", "args": {"c": 1}}, "thoughtSignature": sig}]}, "finishReason": "STOP"}]}
    call = gemini_to_openai_chat(resp, model="g", chat_id="chatcmpl-z")["choices"][0]["message"]["tool_calls"][0]
    assert all(ch.isalnum() or ch in "_-" for ch in call["id"])  # still a valid Anthropic tool_use id
    out = openai_chat_to_gemini({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "ok"},
    ]})
    assert out["contents"][1]["parts"][0] == {"functionCall": {"name": "w", "args": {"c": 1}}, "thoughtSignature": sig}
    assert out["contents"][2]["parts"][0]["functionResponse"]["name"] == "w"


def test_adapter_paths_and_key_header() -> None:
    from ferrogate.ai.providers.base import ClientRequest, Endpoint
    from ferrogate.ai.providers.gemini import GeminiAdapter
    from ferrogate.config.model import Provider

    adapter = GeminiAdapter(Provider(name="g", kind="gemini", api_key="secret-key"))
    body = b'{"model":"x","messages":[{"role":"user","content":"hi"}]}'
    call = adapter.build_call(ClientRequest(endpoint=Endpoint.CHAT, body=body, model="x", stream=True),
                              "models/gemini-2.5-pro")
    assert adapter.origin == "https://generativelanguage.googleapis.com"
    assert call.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert (b"x-goog-api-key", b"secret-key") in call.headers
    assert b"secret-key" not in call.path.encode()
