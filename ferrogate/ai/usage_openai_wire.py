"""The msgspec shapes usage is decoded into from OpenAI-wire bodies: only the ``usage`` member,
so msgspec skips everything else in C. Structs, so this module stays interpreted; the compiled
:mod:`ferrogate.ai.usage_openai` reads them."""

from __future__ import annotations

import msgspec


class PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class ChatUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None


class ChatUsageHolder(msgspec.Struct):
    usage: ChatUsage | None = None


class InputDetails(msgspec.Struct):
    cached_tokens: int | None = None


class OutputDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class ResponsesUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: InputDetails | None = None
    output_tokens_details: OutputDetails | None = None


class ResponsesUsageHolder(msgspec.Struct):
    usage: ResponsesUsage | None = None


class ResponsesEvent(msgspec.Struct):
    response: ResponsesUsageHolder | None = None

