"""Usage extraction from OpenAI-wire bodies (chat, Responses, embeddings).

Decoding targets only the ``usage`` member, so msgspec skips everything else
in C; a malformed body yields None (the pipeline then estimates).
"""

from __future__ import annotations

import msgspec

from ferrogate.ai.usage import Usage


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _ChatUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


class _ChatUsageHolder(msgspec.Struct):
    usage: _ChatUsage | None = None


class _InputDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _OutputDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _ResponsesUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None


class _ResponsesUsageHolder(msgspec.Struct):
    usage: _ResponsesUsage | None = None


class _ResponsesEvent(msgspec.Struct):
    response: _ResponsesUsageHolder | None = None


_chat_decoder = msgspec.json.Decoder(_ChatUsageHolder)
_responses_decoder = msgspec.json.Decoder(_ResponsesUsageHolder)
_responses_event_decoder = msgspec.json.Decoder(_ResponsesEvent)


def _from_chat(u: _ChatUsage) -> Usage:
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


def _from_responses(u: _ResponsesUsage) -> Usage:
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
    """Usage of a chat completion / chunk / embeddings body, or None."""
    try:
        holder = _chat_decoder.decode(body)
    except msgspec.DecodeError:
        return None
    return _from_chat(holder.usage) if holder.usage is not None else None


def responses_usage(body: bytes) -> Usage | None:
    """Usage of a Responses API ``response`` object, or None."""
    try:
        holder = _responses_decoder.decode(body)
    except msgspec.DecodeError:
        return None
    return _from_responses(holder.usage) if holder.usage is not None else None


def responses_event_usage(data: bytes) -> Usage | None:
    """Usage inside a ``response.completed``-style streamed event, or None."""
    try:
        ev = _responses_event_decoder.decode(data)
    except msgspec.DecodeError:
        return None
    if ev.response is None or ev.response.usage is None:
        return None
    return _from_responses(ev.response.usage)
