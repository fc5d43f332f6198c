"""xAI (Grok): OpenAI wire format at api.x.ai, native Responses API."""

from __future__ import annotations

from typing import ClassVar

from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter


class XaiAdapter(OpenAICompatibleAdapter):
    default_base_url: ClassVar[str] = "https://api.x.ai/v1"
    native_responses_default: ClassVar[bool] = True
    __slots__ = ()
