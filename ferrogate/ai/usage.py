"""Token usage as the gateway accounts it, whatever the provider's shape.

A compiled class, not a msgspec Struct: the relay, the account phase and the record read its
fields on every request, and a compiled module reads a compiled class's field directly (a
Struct's field costs a generic attribute lookup, about 150 instructions). Nothing encodes it:
the request's record carries its numbers.
"""

from __future__ import annotations

from typing import Literal

UsageSource = Literal["provider", "estimated"]


class Usage:
    """Tokens for one request. ``source`` says whether the provider reported them or we estimated.
    Never changed once made (a request that learns more makes a new one)."""

    def __init__(
        self,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        total_tokens: int = 0,
        cached_tokens: int = 0,
        cache_creation_tokens: int = 0,
        reasoning_tokens: int = 0,
        source: UsageSource = "provider",
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.total_tokens = total_tokens
        self.cached_tokens = cached_tokens  # prompt tokens read from the provider's prompt cache
        self.cache_creation_tokens = cache_creation_tokens  # prompt tokens written to the provider's prompt cache
        self.reasoning_tokens = reasoning_tokens  # part of completion_tokens spent thinking
        self.source: UsageSource = source

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Usage):
            return NotImplemented
        return (
            self.prompt_tokens == other.prompt_tokens
            and self.completion_tokens == other.completion_tokens
            and self.total_tokens == other.total_tokens
            and self.cached_tokens == other.cached_tokens
            and self.cache_creation_tokens == other.cache_creation_tokens
            and self.reasoning_tokens == other.reasoning_tokens
            and self.source == other.source
        )

    def __hash__(self) -> int:
        return hash((self.prompt_tokens, self.completion_tokens, self.total_tokens, self.cached_tokens,
                     self.cache_creation_tokens, self.reasoning_tokens, self.source))

    def __repr__(self) -> str:
        return (f"Usage(prompt_tokens={self.prompt_tokens}, completion_tokens={self.completion_tokens}, "
                f"total_tokens={self.total_tokens}, cached_tokens={self.cached_tokens}, "
                f"cache_creation_tokens={self.cache_creation_tokens}, reasoning_tokens={self.reasoning_tokens}, "
                f"source={self.source!r})")
