"""xAI (Grok): OpenAI wire format at api.x.ai, native Responses API."""

from __future__ import annotations

from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter


class XaiAdapter(OpenAICompatibleAdapter):
    default_base_url = "https://api.x.ai/v1"
    native_responses_default = True
    __slots__ = ()
