"""Any server speaking OpenAI's wire format (vLLM, llama.cpp, Ollama, LM Studio, ...).

The request body is the client's, with only the model renamed (byte splice)
and, for streams, ``stream_options.include_usage`` added; responses and
streams pass through unchanged. Header blocks are built once per provider.
The subclasses for named providers only change the defaults: base URL,
auth header, extra headers, paths.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar, Final
from urllib.parse import urlsplit

from ferrogate._fastpath.pool import Origin, head_prefix
from ferrogate.ai.passthrough import ChatPassthrough, ResponsesPassthrough
from ferrogate.ai.providers.base import (
    TRACE_HEADERS,
    ClientRequest,
    Endpoint,
    StreamTranslator,
    Transport,
    UpstreamCall,
    UpstreamFailure,
)
from ferrogate.ai.providers.openai_call import openai_call
from ferrogate.ai.taxonomy import classify_openai_error
from ferrogate.ai.usage import Usage
from ferrogate.ai.usage_openai import chat_usage, responses_usage
from ferrogate.config.model import Provider
from ferrogate.errors import ErrorFlavor, GatewayError, bad_request, sse_error_event

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_RESPONSES: Final = Endpoint.RESPONSES
_RESPONSES_FLAVOR: Final = ErrorFlavor.RESPONSES

_PATHS: dict[Endpoint, str] = {
    Endpoint.CHAT: "/chat/completions",
    Endpoint.RESPONSES: "/responses",
    Endpoint.EMBEDDINGS: "/embeddings",
}


def resolve_api_key(provider: Provider, env: Mapping[str, str] | None = None) -> str | None:
    """The provider's credential: ``api_key_env`` wins over an inline ``api_key``."""
    if provider.api_key_env:
        value = (os.environ if env is None else env).get(provider.api_key_env)
        if value:
            return value
    return provider.api_key


def configured_headers(provider: Provider) -> list[tuple[bytes, bytes]]:
    """The operator's extra ``headers`` for this provider, as wire bytes (names lowercased)."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in provider.headers.items()]


def split_base_url(base_url: str) -> tuple[str, str]:
    """``https://host:port/v1`` → (``https://host:port``, ``/v1``)."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin, parts.path.rstrip("/")


class OpenAICompatibleAdapter:
    """Adapter for the OpenAI wire format; subclasses set the defaults."""

    default_base_url: ClassVar[str] = "http://127.0.0.1:8000/v1"
    native_responses_default: ClassVar[bool] = False

    __slots__ = (
        "_headers",
        "_targets",
        "base_path",
        "endpoints",
        "kind",
        "name",
        "native_responses",
        "origin",
        "transport",
    )

    def __init__(self, provider: Provider, *, env: Mapping[str, str] | None = None) -> None:
        self.name = provider.name
        self.kind = provider.kind
        self.origin, self.base_path = split_base_url(provider.base_url or self.default_base_url)
        self.transport: Transport | None = None
        self.native_responses = self.native_responses_default
        self.endpoints = frozenset((Endpoint.CHAT, Endpoint.RESPONSES, Endpoint.EMBEDDINGS))
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
        ]
        headers.extend(self.auth_headers(resolve_api_key(provider, env)))
        headers.extend(self.extra_headers(provider))
        headers.extend(configured_headers(provider))
        self._headers = tuple(headers)
        self._targets: dict[tuple[Endpoint, str], tuple[str, bytes]] = {}  # path, head

    # ---------------------------------------------------------------- hooks for subclasses

    def auth_headers(self, api_key: str | None) -> list[tuple[bytes, bytes]]:
        return [(b"authorization", b"Bearer " + api_key.encode("latin-1"))] if api_key else []

    def extra_headers(self, provider: Provider) -> list[tuple[bytes, bytes]]:
        return []

    def path_for(self, endpoint: Endpoint, provider_model: str) -> str:
        return self.base_path + _PATHS[endpoint]

    # ---------------------------------------------------------------- the contract

    def check(self, req: ClientRequest) -> None:
        if req.endpoint not in self.endpoints:
            raise bad_request(f"provider {self.name!r} does not serve this endpoint", param="model")

    def build_call(self, req: ClientRequest, provider_model: str) -> UpstreamCall:
        target = self._targets.get((req.endpoint, provider_model))
        if target is None:
            target = self._target(req.endpoint, provider_model)
        return openai_call(req, provider_model, target, self._headers)

    def _target(self, endpoint: Endpoint, provider_model: str) -> tuple[str, bytes]:
        """Path and head, made once per (endpoint, configured provider model)."""
        path = self.path_for(endpoint, provider_model)
        head = b""
        # A configured trace header keeps the call off the serialized-head path (see UpstreamCall.head).
        if self.transport is None and not any(name in TRACE_HEADERS for name, _ in self._headers):
            head = head_prefix(b"POST", path.encode(), list(self._headers), Origin.from_url(self.origin).host_header)
        target = self._targets[(endpoint, provider_model)] = (path, head)
        return target

    def translate_response(self, req: ClientRequest, body: bytes) -> tuple[bytes, Usage | None]:
        if req.endpoint is _RESPONSES:
            return body, responses_usage(body)
        return body, chat_usage(body)

    def stream_translator(self, req: ClientRequest) -> StreamTranslator:
        if req.endpoint is _RESPONSES:
            return ResponsesPassthrough()
        return ChatPassthrough(strip_usage=not req.client_wants_usage)

    def classify_error(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamFailure:
        return classify_openai_error(status, headers, body)

    def emit_error(self, req: ClientRequest, err: GatewayError) -> bytes:
        if req.endpoint is _RESPONSES:
            return sse_error_event(err, _RESPONSES_FLAVOR)
        return sse_error_event(err)
