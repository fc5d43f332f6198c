"""OpenRouter: OpenAI wire format plus its attribution headers (``HTTP-Referer``, ``X-Title``)."""

from __future__ import annotations

from typing import ClassVar

from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter
from ferrogate.config.model import Provider


class OpenRouterAdapter(OpenAICompatibleAdapter):
    default_base_url: ClassVar[str] = "https://openrouter.ai/api/v1"
    native_responses_default: ClassVar[bool] = True
    __slots__ = ()

    def extra_headers(self, provider: Provider) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        if provider.openrouter_http_referer:
            out.append((b"http-referer", provider.openrouter_http_referer.encode("latin-1")))
        if provider.openrouter_x_title:
            out.append((b"x-title", provider.openrouter_x_title.encode("latin-1")))
        return out
