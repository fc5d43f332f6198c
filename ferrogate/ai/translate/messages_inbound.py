"""Anthropic Messages API inbound (``POST /v1/messages``) on a non-Anthropic model.

The client speaks Anthropic; the upstream speaks OpenAI chat (Gemini-backed models
go OpenAI → Gemini in a second step). Requests go Anthropic → OpenAI, responses and
streams come back OpenAI → Anthropic. ``count_tokens`` is estimated here.
"""

from __future__ import annotations

from typing import Any

import orjson

from ferrogate.ai.translate.common import Json, estimate_tokens, loads_arguments
from ferrogate.errors import bad_request

# OpenAI finish_reason → Anthropic stop_reason
STOP_REASON: dict[str | None, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
    None: "end_turn",
}


def _image_part(source: Json) -> Json:
    stype = source.get("type")
    if stype == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif stype == "url":
        url = str(source.get("url", ""))
    else:
        raise bad_request(
            f"image source type {stype!r} is not supported by this model", param="messages"
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result_text(content: Any, is_error: bool = False) -> str:
    if isinstance(content, str):
        text = content
    else:
        text = "".join(
            b.get("text", "")
            for b in content or ()
            if isinstance(b, dict) and b.get("type") == "text"
        )
    return f"Error: {text}" if is_error else text


def _system(system: Any) -> str:
    if isinstance(system, str):
        return system
    return "".join(b.get("text", "") for b in system or () if isinstance(b, dict))


def anthropic_to_openai_chat(body: Json, *, model: str) -> Json:
    """Translate an Anthropic Messages request into an OpenAI chat request."""
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise bad_request("messages: field required", param="messages")
    if not isinstance(body.get("max_tokens"), int):
        raise bad_request("max_tokens: field required", param="max_tokens")
    out_msgs: list[Json] = []
    system = _system(body.get("system"))
    if system:
        out_msgs.append({"role": "system", "content": system})
    for i, m in enumerate(msgs):
        role = m.get("role")
        content = m.get("content")
        if role not in ("user", "assistant"):
            raise bad_request(
                f"messages.{i}.role: unexpected role {role!r}", param=f"messages.{i}.role"
            )
        if isinstance(content, str):
            out_msgs.append({"role": role, "content": content})
            continue
        parts: list[Json] = []
        tool_calls: list[Json] = []
        for b in content or ():
            kind = b.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": b.get("text", "")})
            elif kind == "image":
                parts.append(_image_part(b.get("source") or {}))
            elif kind == "document" and (b.get("source") or {}).get("type") == "base64":
                src = b["source"]
                data_uri = (
                    f"data:{src.get('media_type', 'application/pdf')};base64,{src.get('data', '')}"
                )
                parts.append(
                    {
                        "type": "file",
                        "file": {
                            "file_data": data_uri,
                            "filename": b.get("title") or "document.pdf",
                        },
                    }
                )
            elif kind == "tool_use":
                tool_calls.append(
                    {
                        "id": b.get("id", ""),
                        "type": "function",
                        "function": {
                            "name": b.get("name", ""),
                            "arguments": orjson.dumps(b.get("input", {})).decode(),
                        },
                    }
                )
            elif kind == "tool_result":
                out_msgs.append(
                    {
                        "role": "tool",
                        "tool_call_id": b.get("tool_use_id", ""),
                        "content": _tool_result_text(b.get("content"), bool(b.get("is_error"))),
                    }
                )
            elif kind in ("thinking", "redacted_thinking"):
                continue  # an OpenAI-shaped upstream cannot take signed thinking back
            else:
                raise bad_request(
                    f"content block type {kind!r} is not supported by this model",
                    param=f"messages.{i}",
                )
        if role == "assistant":
            text = "".join(p.get("text", "") for p in parts if p["type"] == "text")
            msg: Json = {"role": "assistant", "content": text or None}
            if tool_calls:
                msg["tool_calls"] = tool_calls
            if text or tool_calls:
                out_msgs.append(msg)
        elif parts:
            only_text = all(p["type"] == "text" for p in parts)
            out_msgs.append(
                {
                    "role": "user",
                    "content": "".join(p["text"] for p in parts) if only_text else parts,
                }
            )
    out: Json = {"model": model, "messages": out_msgs, "max_tokens": body["max_tokens"]}
    for k in ("temperature", "top_p"):
        if body.get(k) is not None:
            out[k] = body[k]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    tools = body.get("tools")
    if tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.get("name", ""),
                    **({"description": t["description"]} if t.get("description") else {}),
                    "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
                },
            }
            for t in tools
        ]
    tc = body.get("tool_choice")
    if isinstance(tc, dict):
        kind = tc.get("type")
        if kind == "auto":
            out["tool_choice"] = "auto"
        elif kind == "any":
            out["tool_choice"] = "required"
        elif kind == "none":
            out["tool_choice"] = "none"
        elif kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": tc.get("name", "")}}
        if tc.get("disable_parallel_tool_use") and tools:
            out["parallel_tool_calls"] = False
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        out["user"] = user
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def anthropic_usage_from_openai(u: Json | None) -> Json:
    """OpenAI chat usage → Anthropic usage (input_tokens excludes cache reads)."""
    u = u or {}
    prompt = int(u.get("prompt_tokens") or 0)
    cached = int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    out: Json = {
        "input_tokens": prompt - cached,
        "output_tokens": int(u.get("completion_tokens") or 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }
    reasoning = int((u.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    if reasoning:
        out["output_tokens_details"] = {"thinking_tokens": reasoning}
    return out


def openai_chat_to_anthropic_message(resp: Json, *, model: str | None = None) -> Json:
    """Translate an OpenAI ChatCompletion into an Anthropic Message."""
    choice = (resp.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    content: list[Json] = []
    reasoning = msg.get("reasoning_content")
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = msg.get("content")
    if text:
        content.append({"type": "text", "text": text})
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": tc.get("id", ""),
                "name": fn.get("name", ""),
                "input": _lenient_arguments(fn.get("arguments")),
            }
        )
    rid = str(resp.get("id", ""))
    return {
        "id": rid if rid.startswith("msg_") else "msg_" + rid.removeprefix("chatcmpl-"),
        "type": "message",
        "role": "assistant",
        "model": model or resp.get("model", ""),
        "content": content,
        "stop_reason": STOP_REASON.get(choice.get("finish_reason"), "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage_from_openai(resp.get("usage")),
    }


def _lenient_arguments(arguments: Any) -> Json:
    """Arguments an upstream produced: invalid JSON is kept rather than failing the answer."""
    try:
        return loads_arguments(arguments, param="arguments")
    except Exception:
        return {"_raw_arguments": str(arguments)}


def count_tokens_estimate(body: Json) -> Json:
    """``/v1/messages/count_tokens`` for providers without such an endpoint: a character-based estimate."""
    n = len(_system(body.get("system")))
    for m in body.get("messages") or ():
        c = m.get("content")
        if isinstance(c, str):
            n += len(c)
            continue
        for b in c or ():
            kind = b.get("type")
            if kind == "text":
                n += len(b.get("text", ""))
            elif kind == "tool_use":
                n += len(b.get("name", "")) + len(orjson.dumps(b.get("input", {})))
            elif kind == "tool_result":
                n += len(_tool_result_text(b.get("content")))
            elif kind == "image":
                n += 1600 * 4  # Anthropic bills an average image at roughly 1,600 tokens
        n += 12  # per-message framing
    if body.get("tools"):
        n += len(orjson.dumps(body["tools"]))
    return {"input_tokens": estimate_tokens(n)}
