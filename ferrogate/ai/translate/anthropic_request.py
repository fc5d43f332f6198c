"""OpenAI chat-completions request → Anthropic Messages request.

``response_format`` handling (documented behaviour):
- ``json_schema``: Anthropic has no native equivalent on every model, so the schema
  becomes a tool named ``JSON_TOOL`` that the model is forced to call; the response
  translators turn that tool call's input back into the message text (and its
  ``input_json_delta`` stream into content deltas), with finish_reason ``stop``.
- ``json_object``: an instruction to answer with one JSON object is appended to ``system``.
- ``text``: nothing to do.

``reasoning_effort`` (low/medium/high) enables extended thinking with the budget in
``THINKING_BUDGET`` (max_tokens is raised above the budget when needed; temperature
and top_p are dropped, as Anthropic requires); it is ignored when a tool is forced and
on requests that answer tool calls (Anthropic would require the earlier turn's signed
thinking block, which OpenAI clients do not send back).
"""

from __future__ import annotations

from typing import Any

from ferrogate.ai.translate.common import (
    Json,
    loads_arguments,
    parse_data_uri,
    request_messages,
    text_of,
)
from ferrogate.errors import bad_request

JSON_TOOL = "json_response"
# reasoning_effort → extended-thinking budget (tokens); "minimal"/"none" turn thinking off
THINKING_BUDGET: dict[str, int] = {"low": 1024, "medium": 4096, "high": 16384}
_JSON_OBJECT_HINT = "Respond with a single valid JSON object and nothing else."


def _image_block(url: str) -> Json:
    data = parse_data_uri(url)
    if data is not None:
        mime, b64 = data
        if mime == "application/pdf":
            return {
                "type": "document",
                "source": {"type": "base64", "media_type": mime, "data": b64},
            }
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": b64}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise bad_request("image_url must be an http(s) URL or a base64 data URI", param="messages")


def _user_blocks(content: Any) -> list[Json]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Json] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            iu = part.get("image_url")
            url = iu.get("url", "") if isinstance(iu, dict) else str(iu or "")
            blocks.append(_image_block(url))
        elif kind == "file":
            f = part.get("file") or {}
            blocks.append(_image_block(str(f.get("file_data", ""))))
        else:
            raise bad_request(
                f"content part type {kind!r} is not supported by this model", param="messages"
            )
        if "cache_control" in part:  # prompt-caching breakpoints set by the client pass through
            blocks[-1]["cache_control"] = part["cache_control"]
    return blocks


def _assistant_blocks(msg: Json, i: int) -> list[Json]:
    blocks = [b for b in _user_blocks(msg.get("content")) if b.get("type") != "text" or b["text"]]
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": tc.get("id") or f"toolu_{i}",
                "name": fn.get("name", ""),
                "input": loads_arguments(fn.get("arguments"), param=f"messages[{i}].tool_calls"),
            }
        )
    return blocks


def _tool_result_block(msg: Json, i: int) -> Json:
    tool_call_id = msg.get("tool_call_id")
    if not tool_call_id:
        raise bad_request("tool message needs tool_call_id", param=f"messages[{i}].tool_call_id")
    content = msg.get("content")
    result: Any = content if isinstance(content, str) else _user_blocks(content)
    return {"type": "tool_result", "tool_use_id": tool_call_id, "content": result}


def _system_text(content: Any) -> str:
    return text_of(content)


def convert_messages(messages: list[Json]) -> tuple[list[str], list[Json]]:
    """OpenAI messages → (system texts, Anthropic messages with same-role turns merged)."""
    system: list[str] = []
    out: list[Json] = []
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(_system_text(msg.get("content")))
            continue
        if role == "user":
            a_role, blocks = "user", _user_blocks(msg.get("content"))
        elif role == "assistant":
            a_role, blocks = "assistant", _assistant_blocks(msg, i)
        elif role == "tool":
            a_role, blocks = "user", [_tool_result_block(msg, i)]
        else:
            raise bad_request(f"unsupported message role {role!r}", param=f"messages[{i}].role")
        if not blocks:
            continue
        if out and out[-1]["role"] == a_role:
            prev = out[-1]["content"]
            # tool_result blocks must open a user turn: keep them ahead of other user content
            if a_role == "user" and blocks[0]["type"] == "tool_result":
                n = 0
                while n < len(prev) and prev[n]["type"] == "tool_result":
                    n += 1
                prev[n:n] = blocks
            else:
                prev.extend(blocks)
        else:
            out.append({"role": a_role, "content": blocks})
    return system, out


def _tools(tools: list[Json]) -> list[Json]:
    out = []
    for i, t in enumerate(tools):
        if t.get("type", "function") != "function":
            raise bad_request(
                f"tool type {t.get('type')!r} is not supported by this model", param=f"tools[{i}]"
            )
        fn = t.get("function") or {}
        tool: Json = {
            "name": fn.get("name", ""),
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            tool["description"] = fn["description"]
        out.append(tool)
    return out


def _tool_choice(choice: Any) -> Json | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"type": "tool", "name": name}
    raise bad_request("unsupported tool_choice", param="tool_choice")


def _in_tool_loop(messages: list[Json]) -> bool:
    """The request answers tool calls: with thinking on, Anthropic would demand the signed
    thinking block of that assistant turn, which an OpenAI client never kept."""
    last = messages[-1] if messages else None
    return bool(
        last
        and last["role"] == "user"
        and last["content"]
        and last["content"][0]["type"] == "tool_result"
    )


def openai_chat_to_anthropic(
    body: Json, *, model: str, default_max_tokens: int
) -> tuple[Json, str | None]:
    """Translate an OpenAI chat request. Returns the Anthropic body and, when the
    client asked for ``json_schema`` output, the name of the forced JSON tool."""
    messages = request_messages(body)
    system, converted = convert_messages(messages)
    out: Json = {"model": model}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    out["max_tokens"] = int(max_tokens)
    out["messages"] = converted
    json_tool: str | None = None
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_object":
        system.append(_JSON_OBJECT_HINT)
    if system:
        out["system"] = "\n\n".join(s for s in system if s)
    for src, dst in (("temperature", "temperature"), ("top_p", "top_p")):
        v = body.get(src)
        if v is not None:
            out[dst] = min(float(v), 1.0) if src == "temperature" else v
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = _tools(body.get("tools") or [])
    choice = _tool_choice(body.get("tool_choice"))
    if rf.get("type") == "json_schema":
        js = rf.get("json_schema") or {}
        json_tool = JSON_TOOL
        tools.append(
            {
                "name": JSON_TOOL,
                "description": "Return the answer as JSON matching this schema"
                + (f" ({js['name']})" if js.get("name") else "")
                + ".",
                "input_schema": js.get("schema") or {"type": "object"},
            }
        )
        choice = {"type": "tool", "name": JSON_TOOL}
    if tools:
        out["tools"] = tools
    if body.get("parallel_tool_calls") is False and tools:
        choice = dict(choice or {"type": "auto"})
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice
    budget = THINKING_BUDGET.get(str(body.get("reasoning_effort") or ""))
    if (
        budget
        and not (choice and choice.get("type") in ("any", "tool"))
        and not _in_tool_loop(converted)
    ):
        # Anthropic: budget < max_tokens, and no sampling overrides while thinking
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if out["max_tokens"] <= budget:
            out["max_tokens"] = budget + out["max_tokens"]
        out.pop("temperature", None)
        out.pop("top_p", None)
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if body.get("stream"):
        out["stream"] = True
    return out, json_tool
