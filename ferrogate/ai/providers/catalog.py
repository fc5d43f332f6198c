"""Provider kind → adapter class: the one table the runtime builds adapters from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferrogate.ai.providers.anthropic import AnthropicAdapter
from ferrogate.ai.providers.azure import AzureAdapter
from ferrogate.ai.providers.base import ProviderAdapter
from ferrogate.ai.providers.gemini import GeminiAdapter
from ferrogate.ai.providers.mock_adapter import MockAdapter
from ferrogate.ai.providers.openai import OpenAIAdapter
from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter
from ferrogate.ai.providers.openrouter import OpenRouterAdapter
from ferrogate.ai.providers.xai import XaiAdapter
from ferrogate.config.model import Config, Provider

ADAPTERS: dict[str, Any] = {
    "openai-compatible": OpenAICompatibleAdapter,
    "openai": OpenAIAdapter,
    "azure": AzureAdapter,
    "openrouter": OpenRouterAdapter,
    "xai": XaiAdapter,
    "mock": MockAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
}


class ProviderUnavailable(Exception):
    """A provider that cannot be built (no adapter for its kind)."""


# Kinds whose wire format requires max_tokens: they take the per-model defaults.
_TAKES_MAX_TOKENS = frozenset(("anthropic",))


def max_tokens_by_model(config: Config, provider: str) -> dict[str, int]:
    """``provider_model -> max_output_tokens`` for the models (and fallbacks) served by
    ``provider``; the first model declaring a provider model wins."""
    out: dict[str, int] = {}
    for model in config.models:
        if model.max_output_tokens is None:
            continue
        targets = [(model.provider, model.provider_model)]
        targets += [(f.provider, f.provider_model) for f in model.fallbacks]
        for name, provider_model in targets:
            if name == provider:
                out.setdefault(provider_model, model.max_output_tokens)
    return out


def build_adapter(
    provider: Provider,
    *,
    env: Mapping[str, str] | None = None,
    config: Config | None = None,
) -> ProviderAdapter:
    """The adapter for ``provider``; ``config`` supplies per-model settings some kinds need."""
    cls = ADAPTERS.get(provider.kind)
    if cls is None:
        raise ProviderUnavailable(f"provider kind {provider.kind!r} has no adapter")
    if provider.kind in _TAKES_MAX_TOKENS and config is not None:
        adapter: ProviderAdapter = cls(
            provider, env=env, max_tokens_by_model=max_tokens_by_model(config, provider.name)
        )
    else:
        adapter = cls(provider, env=env)
    return adapter
