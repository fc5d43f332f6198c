"""Google Gemini (Generative Language API) provider: OpenAI chat/embeddings in, Gemini out.

Chat goes to ``models/{model}:generateContent`` or, streamed,
``models/{model}:streamGenerateContent?alt=sse``; embeddings to ``embedContent`` /
``batchEmbedContents``. The key travels in the ``x-goog-api-key`` header (never
in the URL, so it cannot leak into access logs).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from ferrogate.ai.providers.base import (
    ClientRequest,
    Endpoint,
    StreamTranslator,
    Transport,
    UpstreamCall,
    UpstreamFailure,
)
from ferrogate.ai.providers.openai_compatible import (
    configured_headers,
    resolve_api_key,
    split_base_url,
)
from ferrogate.ai.translate.common import endpoint_error_event, new_id, request_json, upstream_json
from ferrogate.ai.translate.errors import classify_gemini, upstream_failure
from ferrogate.ai.translate.gemini_embeddings import (
    gemini_embeddings_to_openai,
    openai_embeddings_to_gemini,
)
from ferrogate.ai.translate.gemini_request import openai_chat_to_gemini
from ferrogate.ai.translate.gemini_response import gemini_to_openai_chat, usage_from_gemini
from ferrogate.ai.translate.gemini_stream import GeminiToOpenAIStream
from ferrogate.ai.usage import Usage
from ferrogate.config.model import Provider
from ferrogate.errors import GatewayError, bad_request

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiAdapter:
    """One configured Gemini provider (immutable after construction)."""

    __slots__ = (
        "_headers",
        "_models_path",
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
        self.kind: str = provider.kind
        self.origin, self.base_path = split_base_url(provider.base_url or DEFAULT_BASE_URL)
        self.transport: Transport | None = None
        self.native_responses = False
        self.endpoints = frozenset((Endpoint.CHAT, Endpoint.EMBEDDINGS))
        version = "" if self.base_path.rsplit("/", 1)[-1].startswith("v1") else "/v1beta"
        self._models_path = self.base_path + version + "/models/"
        headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
        key = resolve_api_key(provider, env)
        if key:
            headers.append((b"x-goog-api-key", key.encode("latin-1")))
        headers.extend(configured_headers(provider))
        self._headers = tuple(headers)

    def check(self, req: ClientRequest) -> None:
        if req.endpoint not in self.endpoints:
            raise bad_request(f"provider {self.name!r} does not serve this endpoint", param="model")

    def build_call(self, req: ClientRequest, provider_model: str) -> UpstreamCall:
        doc = request_json(req.body)
        provider_model = provider_model.removeprefix("models/")
        if req.endpoint is Endpoint.EMBEDDINGS:
            method, body, _ = openai_embeddings_to_gemini(doc, model=provider_model)
            path = f"{self._models_path}{provider_model}:{method}"
            return UpstreamCall(path=path, headers=list(self._headers), body=orjson.dumps(body))
        body = openai_chat_to_gemini(doc)
        if req.stream:
            path = f"{self._models_path}{provider_model}:streamGenerateContent?alt=sse"
        else:
            path = f"{self._models_path}{provider_model}:generateContent"
        return UpstreamCall(
            path=path, headers=list(self._headers), body=orjson.dumps(body), stream=req.stream
        )

    def translate_response(self, req: ClientRequest, body: bytes) -> tuple[bytes, Usage | None]:
        resp = upstream_json(body)
        if req.endpoint is Endpoint.EMBEDDINGS:
            out, usage = gemini_embeddings_to_openai(resp, request_json(req.body), model=req.model)
            return orjson.dumps(out), usage
        out = gemini_to_openai_chat(resp, model=req.model, chat_id=new_id("chatcmpl-"))
        return orjson.dumps(out), usage_from_gemini(resp.get("usageMetadata"))

    def stream_translator(self, req: ClientRequest) -> StreamTranslator:
        return GeminiToOpenAIStream(
            include_usage=req.client_wants_usage, model=req.model, chat_id=new_id("chatcmpl-")
        )

    def classify_error(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamFailure:
        return upstream_failure(classify_gemini(status, body), headers)

    def emit_error(self, req: ClientRequest, err: GatewayError) -> bytes:
        return endpoint_error_event(req.endpoint, err)
