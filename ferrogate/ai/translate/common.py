"""Small shared pieces of the translators: ids, usage shapes, SSE framing, errors."""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from ferrogate.ai.providers.base import Endpoint
from ferrogate.ai.usage import Usage
from ferrogate.errors import ErrorFlavor, ErrorSource, GatewayError, bad_request, sse_error_event

Json = dict[str, Any]

DONE = b"data: [DONE]\n\n"


def is_json_string(raw: bytes) -> bool:
    """True when ``raw`` is exactly one JSON string literal (safe to splice into JSON as is)."""
    if raw[:1] != b'"':
        return False
    try:
        return isinstance(orjson.loads(raw), str)
    except orjson.JSONDecodeError:
        return False


def new_id(prefix: str) -> str:
    """A random id in the provider's style (``chatcmpl-…``, ``msg_…``, ``call_…``)."""
    return prefix + os.urandom(12).hex()


def tool_call_id(base_id: str, index: int) -> str:
    """A deterministic tool-call id for providers that send none (Gemini), unique per response."""
    tail = base_id.rsplit("-", 1)[-1].rsplit("_", 1)[-1]
    return f"call_{tail}_{index}"


def named_event(name: bytes, obj: Any) -> bytes:
    """One SSE event with an ``event:`` line (Anthropic and Responses streams)."""
    return b"event: " + name + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def openai_usage(u: Usage) -> Json:
    """Usage in OpenAI chat-completions shape."""
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def usage_from_openai(obj: Json | None, *, source: str = "provider") -> Usage | None:
    """Parse an OpenAI chat usage object (tolerates missing details)."""
    if not obj:
        return None
    prompt = int(obj.get("prompt_tokens") or 0)
    completion = int(obj.get("completion_tokens") or 0)
    pdet = obj.get("prompt_tokens_details") or {}
    cdet = obj.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(obj.get("total_tokens") or prompt + completion),
        cached_tokens=int(pdet.get("cached_tokens") or 0),
        reasoning_tokens=int(cdet.get("reasoning_tokens") or 0),
        source="estimated" if source == "estimated" else "provider",
    )


def chat_completion(
    *,
    chat_id: str,
    created: int | None,
    model: str,
    texts: list[str],
    thinking: list[str],
    tool_calls: list[Json],
    finish_reason: str,
    usage: Usage | None,
) -> Json:
    """An OpenAI ``chat.completion`` object from a provider answer's collected parts."""
    message: Json = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
    }
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if tool_calls:
        message["tool_calls"] = tool_calls
    message["refusal"] = None
    out: Json = {
        "id": chat_id,
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        out["usage"] = openai_usage(usage)
    return out


def request_messages(body: Json) -> list[Any]:
    """A chat request's ``messages``; a 400 unless it is a non-empty list and ``n`` is 1
    (the translating providers return one choice)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list", param="messages")
    if (body.get("n") or 1) != 1:
        raise bad_request("n > 1 is not supported by this model", param="n")
    return messages


def estimate_tokens(text_len: int) -> int:
    """A rough token estimate from a character count (about four characters a token)."""
    return (text_len + 3) // 4


def stream_error(
    message: str, *, code: str, flavor: ErrorFlavor = ErrorFlavor.OPENAI, status: int = 502
) -> bytes:
    """An SSE error event for a stream that failed after it started (rendered by errors.py)."""
    err = GatewayError(status, message, code=code, source=ErrorSource.UPSTREAM)
    return sse_error_event(err, flavor)


def endpoint_error_event(endpoint: Endpoint, err: GatewayError) -> bytes:
    """The SSE error event a client of ``endpoint`` understands: Anthropic-shaped on
    ``/v1/messages``, OpenAI-shaped elsewhere."""
    flavor = ErrorFlavor.ANTHROPIC if endpoint is Endpoint.MESSAGES else ErrorFlavor.OPENAI
    return sse_error_event(err, flavor)


def text_of(content: Any) -> str:
    """Plain text of an OpenAI message ``content`` (string or list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    out = []
    for part in content:
        if isinstance(part, dict):
            t = part.get("text")
            if isinstance(t, str):
                out.append(t)
    return "".join(out)


def parse_data_uri(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` → (mime, data), else None."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", data


def loads_arguments(arguments: Any, *, param: str) -> Json:
    """Tool-call ``arguments`` (a JSON string) → object; a clear 400 when it is not one."""
    if isinstance(arguments, dict):
        return arguments
    if arguments in (None, ""):
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise bad_request("tool call arguments are not valid JSON", param=param) from None
    if not isinstance(value, dict):
        raise bad_request("tool call arguments must be a JSON object", param=param)
    return value


def request_json(body: bytes) -> Json:
    """A client's JSON object request body; a 400 naming the problem when it is not one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise bad_request("request body must be a JSON object")
    return doc


def upstream_json(body: bytes) -> Json:
    """A provider's JSON object answer; a 502 (not a crash) when it is not one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        raise GatewayError(
            502,
            "the upstream returned an invalid JSON body",
            code="bad_upstream_response",
            source=ErrorSource.UPSTREAM,
        )
    return doc
