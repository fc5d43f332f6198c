"""Azure OpenAI: deployment URLs, ``api-version`` query, ``api-key`` header.

``base_url`` is the resource endpoint (``https://NAME.openai.azure.com``);
``deployments`` maps a provider_model to its deployment name (default: the
provider_model itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

from ferrogate.ai.providers.base import Endpoint
from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter
from ferrogate.config.model import Provider

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_RESPONSES: Final = Endpoint.RESPONSES

DEFAULT_API_VERSION = "2024-10-21"

_OPERATION: dict[Endpoint, str] = {
    Endpoint.CHAT: "chat/completions",
    Endpoint.EMBEDDINGS: "embeddings",
}


class AzureAdapter(OpenAICompatibleAdapter):
    default_base_url: ClassVar[str] = "https://example.openai.azure.com"
    native_responses_default: ClassVar[bool] = True
    __slots__ = ("_api_version", "_deployments")

    def __init__(self, provider: Provider, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(provider, env=env)
        self._api_version = provider.api_version or DEFAULT_API_VERSION
        self._deployments = dict(provider.deployments)

    def auth_headers(self, api_key: str | None) -> list[tuple[bytes, bytes]]:
        return [(b"api-key", api_key.encode("latin-1"))] if api_key else []

    def path_for(self, endpoint: Endpoint, provider_model: str) -> str:
        if endpoint is _RESPONSES:
            return f"{self.base_path}/openai/responses?api-version={self._api_version}"
        deployment = self._deployments.get(provider_model, provider_model)
        return (
            f"{self.base_path}/openai/deployments/{deployment}/{_OPERATION[endpoint]}"
            f"?api-version={self._api_version}"
        )
