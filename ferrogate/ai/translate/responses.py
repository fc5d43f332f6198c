"""OpenAI Responses API on a chat-only provider: request items → chat messages,
chat results → Responses output items, chat chunks → typed Responses events.

Used by both the AI path and the translating providers (``wrap(adapter)``).
Fields only a stateful Responses server can honour (``previous_response_id``,
``background``, ``conversation``) and non-function tools answer 400 naming the
field. ``store`` is accepted and ignored (nothing is stored). Reasoning text is
not surfaced as output items; reasoning tokens are still counted in usage.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ferrogate.ai.providers.base import (
    ClientRequest,
    Endpoint,
    ProviderAdapter,
    StreamTranslator,
)
from ferrogate.ai.schemas_responses import check_responses_shape
from ferrogate.ai.translate.chain import ChainedStream
from ferrogate.ai.translate.common import (
    Json,
    new_id,
    request_json,
    upstream_json,
    usage_from_openai,
)
from ferrogate.ai.translate.responses_stream import (
    ChatToResponsesStream,
    base_response,
    responses_usage,
)
from ferrogate.ai.translate.wrapped import WrappedAdapter, chat_request
from ferrogate.ai.usage import Usage
from ferrogate.errors import ErrorFlavor, GatewayError, bad_request, sse_error_event

UNSUPPORTED_FIELDS = ("previous_response_id", "background", "conversation")


def check_responses_request(body: Json) -> None:
    """400 naming the field a chat-only upstream cannot honour (or that has a wrong type)."""
    check_responses_shape(body)
    for field in UNSUPPORTED_FIELDS:
        if body.get(field):
            raise bad_request(
                f"{field} is not supported for this model (its provider has no Responses API)",
                param=field,
            )
    for i, tool in enumerate(body.get("tools") or ()):
        if tool.get("type") != "function":
            raise bad_request(
                f"tool type {tool.get('type')!r} is not supported for this model",
                param=f"tools[{i}]",
            )


def _content_parts(content: Any) -> Any:
    if isinstance(content, str):
        return content
    parts: list[Json] = []
    for p in content or ():
        kind = p.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": p.get("text", "")})
        elif kind == "input_image":
            url = p.get("image_url") or ""
            if not url:
                raise bad_request("input_image needs image_url", param="input")
            parts.append(
                {"type": "image_url", "image_url": {"url": url, "detail": p.get("detail", "auto")}}
            )
        elif kind == "input_file" and p.get("file_data"):
            parts.append(
                {
                    "type": "file",
                    "file": {"file_data": p["file_data"], "filename": p.get("filename", "")},
                }
            )
        elif kind == "refusal":
            parts.append({"type": "text", "text": p.get("refusal", "")})
        else:
            raise bad_request(
                f"input content type {kind!r} is not supported for this model", param="input"
            )
    if parts and all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def input_to_messages(body: Json) -> list[Json]:
    """``instructions`` + ``input`` (string or items) → chat messages."""
    messages: list[Json] = []
    instructions = body.get("instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    if not isinstance(items, list):
        raise bad_request("input must be a string or a list of items", param="input")
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role", "user")
            content = _content_parts(item.get("content"))
            messages.append({"role": "system" if role == "developer" else role, "content": content})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id", ""),
                "type": "function",
                "function": {"name": item.get("name", ""), "arguments": item.get("arguments", "")},
            }
            last = messages[-1] if messages else None
            if (
                last is not None
                and last["role"] == "assistant"
                and (last.get("tool_calls") or not last.get("content"))
            ):
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output", "")
            if not isinstance(output, str):
                output = _content_parts(output)
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id", ""), "content": output}
            )
        elif kind == "reasoning":
            continue
        else:
            raise bad_request(
                f"input item type {kind!r} is not supported for this model", param="input"
            )
    return messages


def responses_to_chat(body: Json, *, model: str) -> Json:
    """Translate a Responses request into an OpenAI chat request."""
    check_responses_request(body)
    chat: Json = {"model": model, "messages": input_to_messages(body)}
    tools = body.get("tools")
    if tools:
        chat["tools"] = [
            {
                "type": "function",
                "function": {
                    k: v
                    for k, v in (
                        ("name", t.get("name", "")),
                        ("description", t.get("description")),
                        ("parameters", t.get("parameters")),
                        ("strict", t.get("strict")),
                    )
                    if v is not None
                },
            }
            for t in tools
        ]
    tc = body.get("tool_choice")
    if isinstance(tc, str):
        chat["tool_choice"] = tc
    elif isinstance(tc, dict) and tc.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": tc.get("name", "")}}
    if body.get("max_output_tokens"):
        chat["max_tokens"] = body["max_output_tokens"]
    for k in ("temperature", "top_p", "parallel_tool_calls", "user"):
        if body.get(k) is not None:
            chat[k] = body[k]
    effort = (body.get("reasoning") or {}).get("effort")
    if effort:
        chat["reasoning_effort"] = effort
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt
            },
        }
    elif fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def chat_to_response(
    chat: Json, request: Json, *, resp_id: str, created_at: int | None = None
) -> Json:
    """A ChatCompletion → a Responses ``response`` object (output items + usage)."""
    choice = (chat.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    tail = resp_id.removeprefix("resp_")
    output: list[Json] = []
    text = msg.get("content")
    if text:
        output.append(
            {
                "id": f"msg_{tail}_0",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                ],
            }
        )
    for n, tc in enumerate(msg.get("tool_calls") or ()):
        fn = tc.get("function") or {}
        output.append(
            {
                "id": f"fc_{tail}_{n}",
                "type": "function_call",
                "status": "completed",
                "call_id": tc.get("id", ""),
                "name": fn.get("name", ""),
                "arguments": fn.get("arguments", ""),
            }
        )
    resp = base_response(
        request,
        resp_id=resp_id,
        model=str(chat.get("model", "")),
        created_at=created_at if created_at is not None else int(time.time()),
    )
    resp["output"] = output
    if choice.get("finish_reason") == "length":
        resp["status"] = "incomplete"
        resp["incomplete_details"] = {"reason": "max_output_tokens"}
    elif choice.get("finish_reason") == "content_filter":
        resp["status"] = "incomplete"
        resp["incomplete_details"] = {"reason": "content_filter"}
    else:
        resp["status"] = "completed"
    usage = usage_from_openai(chat.get("usage"))
    resp["usage"] = responses_usage(usage) if usage is not None else None
    return resp


# ---------------------------------------------------------------------- adapter wrapper


def chat_request_for(req: ClientRequest) -> ClientRequest:
    return chat_request(req, responses_to_chat(request_json(req.body), model=req.model))


class ResponsesOverChat(WrappedAdapter):
    """``POST /v1/responses`` on an adapter that only speaks chat."""

    __slots__ = ()

    _ENDPOINT = Endpoint.RESPONSES
    _PATH = "/v1/responses"
    _NATIVE_RESPONSES = True

    _chat_request = staticmethod(chat_request_for)

    def check(self, req: ClientRequest) -> None:
        super().check(req)
        self._inner.check(self._chat(req))

    def translate_response(self, req: ClientRequest, body: bytes) -> tuple[bytes, Usage | None]:
        chat_body, usage = self._inner.translate_response(self._chat(req), body)
        resp = chat_to_response(
            upstream_json(chat_body), request_json(req.body), resp_id=new_id("resp_")
        )
        return orjson.dumps(resp), usage

    def stream_translator(self, req: ClientRequest) -> StreamTranslator:
        inner = self._inner.stream_translator(self._chat(req))
        outer = ChatToResponsesStream(
            request_json(req.body), resp_id=new_id("resp_"), model=req.model
        )
        return ChainedStream(inner, outer)

    def emit_error(self, req: ClientRequest, err: GatewayError) -> bytes:
        return sse_error_event(err, ErrorFlavor.RESPONSES)


def wrap(adapter: ProviderAdapter) -> ProviderAdapter:
    """An adapter taking Responses requests on top of a chat-only ``adapter``."""
    return ResponsesOverChat(adapter)
