"""Provider kind → adapter class. Translating kinds come from TRANSLATE's modules,
imported lazily so the OpenAI path works before (or without) them."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ferrogate.ai.providers.base import ProviderAdapter
from ferrogate.config.model import Provider

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


def build_adapter(provider: Provider, *, env: Mapping[str, str] | None = None) -> ProviderAdapter:
    module_name, class_name = _MODULES[provider.kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ProviderUnavailable(f"provider kind {provider.kind!r} is not available: {exc}") from exc
    cls: Any = getattr(module, class_name)
    adapter: ProviderAdapter = cls(provider, env=env)
    return adapter
