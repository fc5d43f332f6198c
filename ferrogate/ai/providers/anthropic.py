"""Anthropic (Messages API) provider: OpenAI chat in, Anthropic Messages out, OpenAI back.

Also serves ``/v1/messages`` clients directly (``messages_*`` methods): their body
goes through with only the model renamed and the SSE is relayed event by event
(``ferrogate.ai.translate.messages.wrap`` picks this path for Anthropic adapters).
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
from ferrogate.ai.schemas import ChatHead
from ferrogate.ai.splice import rename_model
from ferrogate.ai.translate.anthropic_request import JSON_TOOL, openai_chat_to_anthropic
from ferrogate.ai.translate.anthropic_response import anthropic_to_openai_chat, usage_from_anthropic
from ferrogate.ai.translate.anthropic_stream import AnthropicToOpenAIStream
from ferrogate.ai.translate.common import endpoint_error_event, upstream_json
from ferrogate.ai.translate.errors import classify_anthropic, upstream_failure
from ferrogate.ai.translate.messages_relay import AnthropicRelayStream
from ferrogate.ai.usage import Usage
from ferrogate.config.model import Provider
from ferrogate.errors import GatewayError, bad_request

DEFAULT_BASE_URL = "https://api.anthropic.com"


def _wants_json_tool(req: ClientRequest) -> str | None:
    head = req.head
    if isinstance(head, ChatHead):
        rf = head.response_format
        return JSON_TOOL if rf is not None and rf.type == "json_schema" else None
    try:
        rf_obj = (orjson.loads(req.body) or {}).get("response_format") or {}
    except orjson.JSONDecodeError:
        return None
    return JSON_TOOL if rf_obj.get("type") == "json_schema" else None


class AnthropicAdapter:
    """One configured Anthropic provider (immutable after construction)."""

    __slots__ = (
        "_default_max_tokens",
        "_headers",
        "_max_tokens_by_model",
        "_messages_path",
        "base_path",
        "endpoints",
        "kind",
        "name",
        "native_responses",
        "origin",
        "transport",
    )

    def __init__(
        self,
        provider: Provider,
        *,
        env: Mapping[str, str] | None = None,
        max_tokens_by_model: Mapping[str, int] | None = None,
    ) -> None:
        self.name = provider.name
        self.kind: str = provider.kind
        self.origin, self.base_path = split_base_url(provider.base_url or DEFAULT_BASE_URL)
        self.transport: Transport | None = None
        self.native_responses = False
        self.endpoints = frozenset((Endpoint.CHAT,))
        # base_url may be given with or without the /v1 suffix
        self._messages_path = self.base_path + (
            "/messages" if self.base_path.endswith("/v1") else "/v1/messages"
        )
        self._default_max_tokens = provider.default_max_tokens
        self._max_tokens_by_model = dict(max_tokens_by_model or {})
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"anthropic-version", provider.anthropic_version.encode("latin-1")),
        ]
        key = resolve_api_key(provider, env)
        if key:
            headers.append((b"x-api-key", key.encode("latin-1")))
        headers.extend(configured_headers(provider))
        self._headers = tuple(headers)

    # ---------------------------------------------------------------- OpenAI chat in

    def check(self, req: ClientRequest) -> None:
        if req.endpoint not in self.endpoints:
            raise bad_request(f"provider {self.name!r} does not serve this endpoint", param="model")

    def build_call(self, req: ClientRequest, provider_model: str) -> UpstreamCall:
        try:
            doc = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            raise bad_request("request body is not valid JSON") from None
        max_tokens = self._max_tokens_by_model.get(provider_model, self._default_max_tokens)
        body, _ = openai_chat_to_anthropic(doc, model=provider_model, default_max_tokens=max_tokens)
        return UpstreamCall(
            path=self._messages_path,
            headers=list(self._headers),
            body=orjson.dumps(body),
            stream=req.stream,
        )

    def translate_response(self, req: ClientRequest, body: bytes) -> tuple[bytes, Usage | None]:
        msg = upstream_json(body)
        out = anthropic_to_openai_chat(msg, json_tool=_wants_json_tool(req))
        return orjson.dumps(out), usage_from_anthropic(msg.get("usage"))

    def stream_translator(self, req: ClientRequest) -> StreamTranslator:
        return AnthropicToOpenAIStream(
            include_usage=req.client_wants_usage, json_tool=_wants_json_tool(req)
        )

    def classify_error(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamFailure:
        return upstream_failure(classify_anthropic(status, body), headers)

    def emit_error(self, req: ClientRequest, err: GatewayError) -> bytes:
        return endpoint_error_event(req.endpoint, err)

    # ---------------------------------------------------------------- Anthropic Messages in (pass-through)

    def messages_call(self, req: ClientRequest, provider_model: str) -> UpstreamCall:
        headers = list(self._headers)
        # Anthropic clients (Claude Code...) opt into beta features per request: forward that
        # choice (and only that; the pipeline never hands over the client's credentials).
        for name, value in req.headers:
            if name.lower() == b"anthropic-beta":
                headers.append((b"anthropic-beta", value))
        return UpstreamCall(
            path=self._messages_path,
            headers=headers,
            body=rename_model(req.body, provider_model, current=req.model),
            stream=req.stream,
        )

    def messages_response(self, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            usage = usage_from_anthropic((orjson.loads(body) or {}).get("usage"))
        except (orjson.JSONDecodeError, AttributeError):
            usage = None
        return body, usage

    def messages_stream(self) -> StreamTranslator:
        return AnthropicRelayStream()

    def count_tokens_call(self, body: bytes, provider_model: str) -> UpstreamCall:
        """``POST /v1/messages/count_tokens`` passed through (model renamed)."""
        return UpstreamCall(
            path=self._messages_path + "/count_tokens",
            headers=list(self._headers),
            body=rename_model(body, provider_model),
        )
