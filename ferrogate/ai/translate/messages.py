"""``/v1/messages`` (Anthropic wire format in) on any provider: ``wrap(adapter)``.

- Anthropic adapters: the body passes through with the model renamed and the SSE is
  relayed event by event (usage and ``message_stop`` watched).
- Every other adapter takes OpenAI chat: the request is translated Anthropic → OpenAI
  and handed to the inner adapter as a CHAT request (so Gemini goes Anthropic →
  OpenAI → Gemini), and its OpenAI answer is translated back to Anthropic.
Errors on this endpoint are Anthropic-shaped (``ErrorFlavor.ANTHROPIC``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from ferrogate.ai.providers.base import (
    ClientRequest,
    Endpoint,
    ProviderAdapter,
    StreamTranslator,
    Transport,
    UpstreamCall,
    UpstreamFailure,
)
from ferrogate.ai.schemas import ChatHead
from ferrogate.ai.translate.chain import ChainedStream
from ferrogate.ai.translate.common import new_id, upstream_json
from ferrogate.ai.translate.messages_inbound import (
    anthropic_to_openai_chat,
    count_tokens_estimate,
    openai_chat_to_anthropic_message,
)
from ferrogate.ai.translate.messages_stream import OpenAIToAnthropicStream
from ferrogate.ai.usage import Usage
from ferrogate.errors import ErrorFlavor, GatewayError, bad_request, sse_error_event

_CHAT_HEAD = msgspec.json.Decoder(ChatHead)


def _decode(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise bad_request("request body must be a JSON object")
    return doc


def chat_request_for(req: ClientRequest) -> ClientRequest:
    """The OpenAI chat request equivalent to an Anthropic Messages request."""
    chat = anthropic_to_openai_chat(_decode(req.body), model=req.model)
    body = orjson.dumps(chat)
    return ClientRequest(
        endpoint=Endpoint.CHAT,
        body=body,
        model=req.model,
        stream=req.stream,
        client_wants_usage=True,
        head=_CHAT_HEAD.decode(body),
    )


class _MessagesBase:
    __slots__ = (
        "_inner",
        "_memo",
        "base_path",
        "endpoints",
        "kind",
        "name",
        "native_responses",
        "origin",
        "transport",
    )

    def __init__(self, inner: ProviderAdapter) -> None:
        self._inner = inner
        self._memo: tuple[ClientRequest, ClientRequest] | None = None
        self.name = inner.name
        self.kind = inner.kind
        self.origin = inner.origin
        self.base_path = inner.base_path
        self.transport: Transport | None = inner.transport
        self.native_responses = False
        self.endpoints = frozenset((Endpoint.MESSAGES,))

    def _chat(self, req: ClientRequest) -> ClientRequest:
        """The translated chat request, made once per client request (check, build_call and the
        response path all ask for it; the identity check keeps concurrent requests apart)."""
        memo = self._memo
        if memo is not None and memo[0] is req:
            return memo[1]
        chat = chat_request_for(req)
        self._memo = (req, chat)
        return chat

    def check(self, req: ClientRequest) -> None:
        if req.endpoint is not Endpoint.MESSAGES:
            raise bad_request("this adapter serves /v1/messages only", param="model")

    def classify_error(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamFailure:
        return self._inner.classify_error(status, headers, body)

    def emit_error(self, req: ClientRequest, err: GatewayError) -> bytes:
        return sse_error_event(err, ErrorFlavor.ANTHROPIC)


class MessagesPassthrough(_MessagesBase):
    """Anthropic client → Anthropic provider."""

    __slots__ = ()

    def build_call(self, req: ClientRequest, provider_model: str) -> UpstreamCall:
        call: UpstreamCall = self._inner.messages_call(req, provider_model)  # type: ignore[attr-defined]
        return call

    def translate_response(self, req: ClientRequest, body: bytes) -> tuple[bytes, Usage | None]:
        result: tuple[bytes, Usage | None] = self._inner.messages_response(body)  # type: ignore[attr-defined]
        return result

    def stream_translator(self, req: ClientRequest) -> StreamTranslator:
        stream: StreamTranslator = self._inner.messages_stream()  # type: ignore[attr-defined]
        return stream


class MessagesOverChat(_MessagesBase):
    """Anthropic client → any provider taking OpenAI chat."""

    __slots__ = ()

    def check(self, req: ClientRequest) -> None:
        super().check(req)
        self._inner.check(self._chat(req))

    def build_call(self, req: ClientRequest, provider_model: str) -> UpstreamCall:
        return self._inner.build_call(self._chat(req), provider_model)

    def translate_response(self, req: ClientRequest, body: bytes) -> tuple[bytes, Usage | None]:
        chat_body, usage = self._inner.translate_response(self._chat(req), body)
        msg = openai_chat_to_anthropic_message(upstream_json(chat_body))
        return orjson.dumps(msg), usage

    def stream_translator(self, req: ClientRequest) -> StreamTranslator:
        inner = self._inner.stream_translator(self._chat(req))
        outer = OpenAIToAnthropicStream(model=req.model, msg_id=new_id("msg_"))
        return ChainedStream(inner, outer)


def count_tokens_call(
    adapter: ProviderAdapter, body: bytes, provider_model: str
) -> UpstreamCall | None:
    """The upstream call answering ``POST /v1/messages/count_tokens`` for ``adapter``, or None
    when the provider has no such endpoint (then answer :func:`count_tokens_body`)."""
    make = getattr(adapter, "count_tokens_call", None)
    if make is None:
        return None
    call: UpstreamCall = make(body, provider_model)
    return call


def count_tokens_body(body: bytes) -> bytes:
    """An estimated ``{"input_tokens": N}`` answer for providers without a counting endpoint."""
    return orjson.dumps(count_tokens_estimate(_decode(body)))


def wrap(adapter: ProviderAdapter) -> ProviderAdapter:
    """An adapter taking Anthropic Messages requests on top of ``adapter``."""
    if hasattr(adapter, "messages_call"):
        return MessagesPassthrough(adapter)
    return MessagesOverChat(adapter)
