"""Token usage as the gateway accounts it, whatever the provider's shape."""

from __future__ import annotations

from typing import Literal

import msgspec


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens for one request. ``source`` says whether the provider reported them or we estimated."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from the provider's prompt cache
    cache_creation_tokens: int = 0  # prompt tokens written to the provider's prompt cache
    reasoning_tokens: int = 0  # part of completion_tokens spent thinking
    source: Literal["provider", "estimated"] = "provider"
