"""OpenAI itself: api.openai.com, Bearer key, native Responses API."""

from __future__ import annotations

from typing import ClassVar

from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter


class OpenAIAdapter(OpenAICompatibleAdapter):
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    native_responses_default: ClassVar[bool] = True
    __slots__ = ()
