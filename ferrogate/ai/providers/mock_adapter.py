"""The built-in ``mock`` provider's adapter: the OpenAI wire format, answered by
:class:`~ferrogate.ai.providers.mock.MockTransport` in-process.

Kept apart from the transport, whose module defines msgspec Structs and so stays
interpreted: the adapter family is compiled, and an interpreted class cannot subclass a
compiled one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from ferrogate.ai.providers.base import Endpoint
from ferrogate.ai.providers.mock import MockTransport
from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter
from ferrogate.config.model import MockSettings, Provider


class MockAdapter(OpenAICompatibleAdapter):
    """OpenAI-wire adapter whose transport is :class:`MockTransport`."""

    default_base_url: ClassVar[str] = "http://mock.invalid/v1"
    native_responses_default: ClassVar[bool] = True
    __slots__ = ()

    def __init__(self, provider: Provider, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(provider, env=env)
        self.transport = MockTransport(provider.mock or MockSettings())
        self.origin = ""
        self.endpoints = frozenset((Endpoint.CHAT, Endpoint.RESPONSES, Endpoint.EMBEDDINGS))
