"""A finished ``chat.completion`` told as the ``chat.completion.chunk`` events of a stream.

For answers the gateway had to receive whole before the client could see them (the last
model call of an automatic tool loop): the client asked for a stream and gets one, with
the same content, tool calls, finish reason and (when it asked) usage, then ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

from ferrogate.ai.translate.openai_chunks import ChunkWriter

_DONE = b"data: [DONE]\n\n"


def replay_chat_answer(answer: dict[str, Any], include_usage: bool) -> bytes:
    writer = ChunkWriter(str(answer.get("id") or "chatcmpl-gateway"), int(answer.get("created") or 0),
                         str(answer.get("model") or ""))
    out = [writer.delta({"role": "assistant", "content": ""})]
    choices = answer.get("choices")
    choice: dict[str, Any] = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") or {}
    content = message.get("content")
    if isinstance(content, str) and content:
        out.append(writer.content(content))
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        out.append(writer.delta({"tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]}))
    out.append(writer.finish(str(choice.get("finish_reason") or "stop")))
    usage = answer.get("usage")
    if include_usage and isinstance(usage, dict):
        out.append(writer.usage(usage))
    out.append(_DONE)
    return b"".join(out)
