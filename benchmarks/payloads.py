"""Canned wire bodies: what the nginx mock answers and what the load generator sends.

The mock answers are served by nginx ``return`` directives, whose text is one config
token; nginx rejects tokens longer than its 4 KiB config buffer, so every answer here is
kept well below that (checked by :func:`mock_answers`).
"""

from __future__ import annotations

import json
from typing import Any

MAX_RETURN_TEXT = 3800  # bytes; nginx's config token limit is 4096

OPENAI_MODEL = "gpt-4o-mini"
WORDS = ("Hello", " from", " the", " local", " mock", " upstream", " of", " the", " benchmark", ".")
PROMPT_TOKENS, COMPLETION_TOKENS = 21, len(WORDS)
SMALL_JSON: dict[str, Any] = {"ok": True, "service": "ferrogate-bench-mock"}


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def openai_chat_json() -> str:
    return _dump({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
        "model": OPENAI_MODEL, "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "".join(WORDS), "refusal": None}}],
        "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                  "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
    })


def openai_chat_sse() -> str:
    """A chat stream: role chunk, one chunk per word, finish chunk, usage chunk, [DONE]."""
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
            "model": OPENAI_MODEL}
    deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
    deltas += [({"content": w}, None) for w in WORDS]
    deltas.append(({}, "stop"))
    events = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": f}]} for d, f in deltas]
    events.append({**head, "choices": [], "usage": {
        "prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}})
    return "".join(f"data: {_dump(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def openai_responses_sse() -> str:
    """A Responses API stream with its typed events: created, in progress, the message's
    item and part, one text delta per word, the text and part and item done, completed
    (with the usage)."""
    response: dict[str, Any] = {"id": "resp_bench", "object": "response", "created_at": 1700000000,
                                "status": "in_progress", "model": OPENAI_MODEL, "output": []}
    item = {"id": "msg_bench", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    text = "".join(WORDS)
    part = {"type": "output_text", "text": text, "annotations": []}
    done_item = {**item, "status": "completed", "content": [part]}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": response}),
        ("response.in_progress", {"response": response}),
        ("response.output_item.added", {"output_index": 0, "item": item}),
        ("response.content_part.added", {"item_id": "msg_bench", "output_index": 0, "content_index": 0,
                                         "part": {**part, "text": ""}}),
    ]
    events += [("response.output_text.delta", {"item_id": "msg_bench", "output_index": 0, "content_index": 0,
                                               "delta": w}) for w in WORDS]
    events += [
        ("response.output_text.done", {"item_id": "msg_bench", "output_index": 0, "content_index": 0, "text": text}),
        ("response.content_part.done", {"item_id": "msg_bench", "output_index": 0, "content_index": 0, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": done_item}),
        ("response.completed", {"response": {**response, "status": "completed", "output": [done_item], "usage": {
            "input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0}}}}),
    ]
    return "".join(f"event: {name}\ndata: {_dump({'type': name, 'sequence_number': i, **data})}\n\n"
                   for i, (name, data) in enumerate(events))


def anthropic_message_json() -> str:
    return _dump({
        "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench",
        "content": [{"type": "text", "text": "".join(WORDS)}], "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS},
    })


def anthropic_message_sse() -> str:
    """A Messages stream with the exact event names the Anthropic SDK dispatches on."""
    start: dict[str, Any] = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench",
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": w}}) for w in WORDS]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": COMPLETION_TOKENS}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {_dump(data)}\n\n" for name, data in events)


def mock_answers() -> dict[str, str]:
    """Name -> body text of every canned answer (each short enough for an nginx ``return``)."""
    answers = {
        "small": _dump(SMALL_JSON),
        "openai_json": openai_chat_json(),
        "openai_sse": openai_chat_sse(),
        "anthropic_json": anthropic_message_json(),
        "anthropic_sse": anthropic_message_sse(),
        "not_found": _dump({"error": {"message": "bench mock: no such path", "type": "not_found"}}),
    }
    for name, text in answers.items():
        if len(text.encode()) > MAX_RETURN_TEXT:
            raise ValueError(f"mock answer {name!r} is too long for an nginx return directive")
    return answers


# --------------------------------------------------------------------------- request bodies


def request_bodies() -> dict[str, bytes]:
    """Name -> request body the load generator POSTs (files the wrk Lua script reads)."""
    system = "You are a helpful assistant."
    user = "Say hello in one short sentence."
    chat = {"model": OPENAI_MODEL, "messages": [{"role": "system", "content": system},
                                                {"role": "user", "content": user}]}
    claude = {**chat, "model": "claude-bench"}
    messages = {"model": OPENAI_MODEL, "max_tokens": 64, "system": system,
                "messages": [{"role": "user", "content": user}]}
    return {
        "chat": _dump(chat).encode(),
        # 0000000000 is replaced per request by benchmarks/lua/post_varying_body.lua
        "chat_governed": _dump({**chat, "model": OPENAI_MODEL + "-governed", "user": "bench-0000000000"}).encode(),
        # chat_governed's body with governance off: a model of the same routing (an alias of
        # the same provider model) without the cache; sent with the ungoverned key.
        "chat_ungoverned": _dump({**chat, "model": OPENAI_MODEL + "-ungoverned", "user": "bench-0000000000"}).encode(),
        "chat_stream": _dump({**chat, "model": OPENAI_MODEL + "-stream", "stream": True}).encode(),
        "chat_to_anthropic": _dump(claude).encode(),
        "chat_to_anthropic_stream": _dump({**claude, "model": "claude-bench-stream",
                                           "stream": True}).encode(),
        "messages": _dump(messages).encode(),
        "messages_stream": _dump({**messages, "model": OPENAI_MODEL + "-stream",
                                  "stream": True}).encode(),
        "responses_stream": _dump({"model": OPENAI_MODEL + "-responses-stream", "instructions": system,
                                   "input": user, "stream": True}).encode(),
    }


# The in-process AI harnesses' scenarios and the gateway path each one calls.
SCENARIO_PATHS: dict[str, bytes] = {
    "chat": b"/v1/chat/completions",
    "chat_governed": b"/v1/chat/completions",
    "chat_ungoverned": b"/v1/chat/completions",
    "chat_stream": b"/v1/chat/completions",
    "chat_to_anthropic": b"/v1/chat/completions",
    "chat_to_anthropic_stream": b"/v1/chat/completions",
    "messages": b"/v1/messages",
    "messages_stream": b"/v1/messages",
    "responses_stream": b"/v1/responses",
}
