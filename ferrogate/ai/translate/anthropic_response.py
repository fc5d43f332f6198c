"""Anthropic Messages response → OpenAI ChatCompletion, and Anthropic usage → Usage."""

from __future__ import annotations

import orjson

from ferrogate.ai.translate.common import Json, chat_completion
from ferrogate.ai.usage import Usage

# Anthropic stop_reason → OpenAI finish_reason
FINISH_REASON: dict[str | None, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    None: "stop",
}


def usage_from_anthropic(u: Json | None) -> Usage | None:
    """Anthropic ``input_tokens`` excludes cache reads and writes; OpenAI's prompt_tokens includes them."""
    if not u:
        return None
    fresh = int(u.get("input_tokens") or 0)
    read = int(u.get("cache_read_input_tokens") or 0)
    created = int(u.get("cache_creation_input_tokens") or 0)
    output = int(u.get("output_tokens") or 0)
    details = u.get("output_tokens_details") or {}
    prompt = fresh + read + created
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=output,
        total_tokens=prompt + output,
        cached_tokens=read,
        cache_creation_tokens=created,
        reasoning_tokens=int(details.get("thinking_tokens") or 0),
    )


def merge_anthropic_usage(base: Json, update: Json | None) -> Json:
    """message_delta usage counts are cumulative: present fields overwrite message_start's."""
    if not update:
        return base
    merged = dict(base)
    for k, v in update.items():
        if v is not None:
            merged[k] = v
    return merged


def anthropic_to_openai_chat(
    msg: Json, *, json_tool: str | None = None, created: int | None = None
) -> Json:
    """Translate a non-streamed Anthropic Message into an OpenAI ChatCompletion."""
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[Json] = []
    stop_reason = msg.get("stop_reason")
    for block in msg.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "thinking":
            thinking.append(block.get("thinking", ""))
        elif kind == "tool_use":
            if json_tool is not None and block.get("name") == json_tool:
                texts.append(orjson.dumps(block.get("input", {})).decode())
                if stop_reason == "tool_use":
                    stop_reason = "end_turn"
                continue
            tool_calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": orjson.dumps(block.get("input", {})).decode(),
                    },
                }
            )
    return chat_completion(
        chat_id="chatcmpl-" + str(msg.get("id", "")),
        created=created,
        model=msg.get("model", ""),
        texts=texts,
        thinking=thinking,
        tool_calls=tool_calls,
        finish_reason=FINISH_REASON.get(stop_reason, "stop"),
        usage=usage_from_anthropic(msg.get("usage")),
    )
