"""``/v1/messages`` (Anthropic wire format in) on any provider: ``wrap(adapter)``.

- Anthropic adapters: the body passes through with the model renamed and the SSE is
  relayed event by event (usage and ``message_stop`` watched).
- Every other adapter takes OpenAI chat: the request is translated Anthropic → OpenAI
  and handed to the inner adapter as a CHAT request (so Gemini goes Anthropic →
  OpenAI → Gemini), and its OpenAI answer is translated back to Anthropic.
Errors on this endpoint are Anthropic-shaped (``ErrorFlavor.ANTHROPIC``).
"""

from __future__ import annotations

import orjson

from ferrogate.ai.providers.base import (
    ClientRequest,
    Endpoint,
    ProviderAdapter,
    StreamTranslator,
    UpstreamCall,
)
from ferrogate.ai.translate.chain import ChainedStream
from ferrogate.ai.translate.common import new_id, request_json, upstream_json
from ferrogate.ai.translate.messages_inbound import (
    anthropic_to_openai_chat,
    count_tokens_estimate,
    openai_chat_to_anthropic_message,
)
from ferrogate.ai.translate.messages_stream import OpenAIToAnthropicStream
from ferrogate.ai.translate.wrapped import WrappedAdapter, chat_request
from ferrogate.ai.usage import Usage
from ferrogate.errors import ErrorFlavor, GatewayError, sse_error_event


def chat_request_for(req: ClientRequest) -> ClientRequest:
    """The OpenAI chat request equivalent to an Anthropic Messages request."""
    return chat_request(req, anthropic_to_openai_chat(request_json(req.body), model=req.model))


class _MessagesBase(WrappedAdapter):
    __slots__ = ()

    _ENDPOINT = Endpoint.MESSAGES
    _PATH = "/v1/messages"

    _chat_request = staticmethod(chat_request_for)

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
    return orjson.dumps(count_tokens_estimate(request_json(body)))


def wrap(adapter: ProviderAdapter) -> ProviderAdapter:
    """An adapter taking Anthropic Messages requests on top of ``adapter``."""
    if hasattr(adapter, "messages_call"):
        return MessagesPassthrough(adapter)
    return MessagesOverChat(adapter)
