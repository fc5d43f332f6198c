"""Provider kind → adapter class.

An adapter's module is imported when the first provider of its kind is built, so a
worker loads only the adapters (and translators) its config uses; a module missing
from the install is reported as :class:`ProviderUnavailable` for that provider."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ferrogate.ai.providers.base import ProviderAdapter
from ferrogate.config.model import Config, Provider

_MODULES: dict[str, tuple[str, str]] = {
    "openai-compatible": ("ferrogate.ai.providers.openai_compatible", "OpenAICompatibleAdapter"),
    "openai": ("ferrogate.ai.providers.openai", "OpenAIAdapter"),
    "azure": ("ferrogate.ai.providers.azure", "AzureAdapter"),
    "openrouter": ("ferrogate.ai.providers.openrouter", "OpenRouterAdapter"),
    "xai": ("ferrogate.ai.providers.xai", "XaiAdapter"),
    "mock": ("ferrogate.ai.providers.mock", "MockAdapter"),
    "anthropic": ("ferrogate.ai.providers.anthropic", "AnthropicAdapter"),
    "gemini": ("ferrogate.ai.providers.gemini", "GeminiAdapter"),
}


class ProviderUnavailable(Exception):
    """The adapter module for a kind is not installed in this build."""


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
    module_name, class_name = _MODULES[provider.kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ProviderUnavailable(f"provider kind {provider.kind!r} is not available: {exc}") from exc
    cls: Any = getattr(module, class_name)
    if provider.kind in _TAKES_MAX_TOKENS and config is not None:
        adapter: ProviderAdapter = cls(
            provider, env=env, max_tokens_by_model=max_tokens_by_model(config, provider.name)
        )
    else:
        adapter = cls(provider, env=env)
    return adapter
