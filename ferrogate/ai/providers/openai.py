"""OpenAI itself: api.openai.com, Bearer key, native Responses API."""

from __future__ import annotations

from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter


class OpenAIAdapter(OpenAICompatibleAdapter):
    default_base_url = "https://api.openai.com/v1"
    native_responses_default = True
    __slots__ = ()
