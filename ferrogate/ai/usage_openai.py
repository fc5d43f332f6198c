"""Usage extraction from OpenAI-wire bodies (chat, Responses, embeddings).

Decoding targets only the ``usage`` member (the shapes in
:mod:`ferrogate.ai.usage_openai_wire`), so msgspec skips everything else in C; a malformed
body yields None (the pipeline then estimates). Compiled: it runs on every chat answer.
"""

from __future__ import annotations

from typing import Final

import msgspec

from ferrogate.ai.usage import Usage
from ferrogate.ai.usage_openai_wire import (
    ChatUsage,
    ChatUsageHolder,
    ResponsesEvent,
    ResponsesUsage,
    ResponsesUsageHolder,
)

try:
    from ferrogate.ai._json_top import top_level_value as _native_value
    from ferrogate.ai._json_top import usage_counts as _native_counts
except ImportError:  # not built: every answer is decoded whole
    _native_value = None  # type: ignore[assignment]
    _native_counts = None  # type: ignore[assignment]

# Built here as Finals: a compiled module reads them as C statics (an imported name is a
# dict lookup at each use).
CHAT_DECODER: Final = msgspec.json.Decoder(ChatUsageHolder)
CHAT_USAGE_DECODER: Final = msgspec.json.Decoder(ChatUsage | None)
_TOP_LEVEL_VALUE: Final = _native_value
_USAGE_COUNTS: Final = _native_counts
RESPONSES_DECODER: Final = msgspec.json.Decoder(ResponsesUsageHolder)
RESPONSES_EVENT_DECODER: Final = msgspec.json.Decoder(ResponsesEvent)


def _from_chat(u: ChatUsage) -> Usage:
    prompt = u.prompt_tokens or 0
    completion = u.completion_tokens or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=u.total_tokens if u.total_tokens is not None else prompt + completion,
        cached_tokens=(u.prompt_tokens_details.cached_tokens or 0) if u.prompt_tokens_details else 0,
        reasoning_tokens=(u.completion_tokens_details.reasoning_tokens or 0)
        if u.completion_tokens_details
        else 0,
    )


def _from_responses(u: ResponsesUsage) -> Usage:
    prompt = u.input_tokens or 0
    completion = u.output_tokens or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=u.total_tokens if u.total_tokens is not None else prompt + completion,
        cached_tokens=(u.input_tokens_details.cached_tokens or 0) if u.input_tokens_details else 0,
        reasoning_tokens=(u.output_tokens_details.reasoning_tokens or 0)
        if u.output_tokens_details
        else 0,
    )


def chat_usage(body: bytes) -> Usage | None:
    """Usage of a chat completion / chunk / embeddings body, or None.

    The C walk of the top level finds the ``usage`` object, and C reads its counts (a
    quarter of decoding the answer to skip its choices, and no Struct per level whose fields
    cost a generic lookup each); where C cannot tell, that object, or else the whole body, is
    decoded."""
    if _TOP_LEVEL_VALUE is not None:
        start, end = _TOP_LEVEL_VALUE(body, b"usage")
        if start >= 0:
            if end == 0:
                return None  # no top-level usage
            counts = _USAGE_COUNTS(body, start, end, b"prompt_tokens", b"completion_tokens", b"total_tokens",
                                   b"prompt_tokens_details", b"cached_tokens",
                                   b"completion_tokens_details", b"reasoning_tokens")
            if counts is not None:  # read in C: -1 for a count absent or null
                prompt, completion, total, cached, reasoning = counts
                prompt = prompt if prompt > 0 else 0
                completion = completion if completion > 0 else 0
                return Usage(prompt_tokens=prompt, completion_tokens=completion,
                             total_tokens=total if total >= 0 else prompt + completion,
                             cached_tokens=cached if cached > 0 else 0,
                             reasoning_tokens=reasoning if reasoning > 0 else 0)
            try:
                usage = CHAT_USAGE_DECODER.decode(body[start:end])
            except msgspec.DecodeError:
                return None
            return _from_chat(usage) if usage is not None else None
    try:
        holder = CHAT_DECODER.decode(body)
    except msgspec.DecodeError:
        return None
    return _from_chat(holder.usage) if holder.usage is not None else None


def responses_usage(body: bytes) -> Usage | None:
    """Usage of a Responses API ``response`` object, or None."""
    try:
        holder = RESPONSES_DECODER.decode(body)
    except msgspec.DecodeError:
        return None
    return _from_responses(holder.usage) if holder.usage is not None else None


def responses_event_usage(data: bytes) -> Usage | None:
    """Usage inside a ``response.completed``-style streamed event, or None."""
    try:
        ev = RESPONSES_EVENT_DECODER.decode(data)
    except msgspec.DecodeError:
        return None
    if ev.response is None or ev.response.usage is None:
        return None
    return _from_responses(ev.response.usage)
