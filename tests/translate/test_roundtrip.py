"""OpenAI → Anthropic → OpenAI preserves text, tool names, tool arguments and usage."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.ai.translate.anthropic_request import openai_chat_to_anthropic
from ferrogate.ai.translate.anthropic_response import anthropic_to_openai_chat
from ferrogate.ai.translate.messages_inbound import anthropic_to_openai_chat as messages_to_chat
from ferrogate.ai.translate.messages_inbound import openai_chat_to_anthropic_message

# Named functions, not lambdas: hypothesis describes a lambda by parsing this file's source,
# which CPython 3.11 can fail deep in a run ("AST constructor recursion depth mismatch").


def _not_blank(s: str) -> bool:
    return s.strip() != ""


_text = st.text(min_size=1, max_size=40).filter(_not_blank)
_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=20))
_args = st.dictionaries(_name, st.one_of(_json_scalar, st.lists(_json_scalar, max_size=3)), max_size=4)
_calls = st.lists(st.tuples(_name, _args), max_size=3)


@settings(max_examples=60, deadline=None)
@given(user=_text, reply=_text, calls=_calls, result=_text)
def test_request_round_trip_keeps_text_tools_and_arguments(user: str, reply: str, calls: list, result: str) -> None:
    tool_calls = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                  for i, (n, a) in enumerate(calls)]
    messages: list[dict] = [{"role": "system", "content": "sys"}, {"role": "user", "content": user},
                            {"role": "assistant", "content": reply, **({"tool_calls": tool_calls} if calls else {})}]
    messages += [{"role": "tool", "tool_call_id": c["id"], "content": result} for c in tool_calls]
    anthropic, _ = openai_chat_to_anthropic({"messages": messages, "max_tokens": 64}, model="c", default_max_tokens=1)
    back = messages_to_chat(anthropic, model="o")["messages"]
    assert back[0] == {"role": "system", "content": "sys"}
    assert back[1] == {"role": "user", "content": user}
    assert back[2]["content"] == reply
    got = [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in back[2].get("tool_calls", [])]
    assert got == [(c["id"], n, a) for c, (n, a) in zip(tool_calls, calls, strict=True)]
    assert [(m["tool_call_id"], m["content"]) for m in back[3:]] == [(c["id"], result) for c in tool_calls]


@settings(max_examples=60, deadline=None)
@given(text=st.one_of(st.none(), _text), calls=_calls, prompt=st.integers(0, 10**6), cached=st.integers(0, 10**6),
       completion=st.integers(0, 10**5), reasoning=st.integers(0, 10**4))
def test_response_round_trip_keeps_content_tools_and_usage(
    text: str | None, calls: list, prompt: int, cached: int, completion: int, reasoning: int
) -> None:
    cached = min(cached, prompt)
    reasoning = min(reasoning, completion)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
             "prompt_tokens_details": {"cached_tokens": cached},
             "completion_tokens_details": {"reasoning_tokens": reasoning}}
    tool_calls = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                  for i, (n, a) in enumerate(calls)]
    message: dict = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    chat: dict[str, Any] = {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": usage}
    back = anthropic_to_openai_chat(openai_chat_to_anthropic_message(chat), created=1)
    msg = back["choices"][0]["message"]
    assert (msg["content"] or None) == (text or None)
    got = [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in msg.get("tool_calls", [])]
    assert got == [(c["id"], n, a) for c, (n, a) in zip(tool_calls, calls, strict=True)]
    assert back["choices"][0]["finish_reason"] == chat["choices"][0]["finish_reason"]
    assert back["usage"] == usage
