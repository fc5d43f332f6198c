"""What every adapter that serves one client API on top of another adapter shares
(``messages.wrap``, ``responses.wrap``): it speaks for the inner adapter (name,
origin, transport, error classification), accepts only its own endpoint, and,
when it translates, hands the inner adapter the equivalent OpenAI chat request.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec
import orjson

from ferrogate.ai.providers.base import (
    ClientRequest,
    Endpoint,
    ProviderAdapter,
    Transport,
    UpstreamCall,
    UpstreamFailure,
)
from ferrogate.ai.schemas import ChatHead
from ferrogate.ai.translate.common import Json
from ferrogate.errors import bad_request

_CHAT_HEAD = msgspec.json.Decoder(ChatHead)


def chat_request(req: ClientRequest, chat: Json) -> ClientRequest:
    """The OpenAI chat request carrying ``chat`` (a translated body) for the client's ``req``."""
    body = orjson.dumps(chat)
    return ClientRequest(
        endpoint=Endpoint.CHAT,
        body=body,
        model=req.model,
        stream=req.stream,
        client_wants_usage=True,
        head=_CHAT_HEAD.decode(body),
    )


class WrappedAdapter:
    """Delegation to ``inner``; subclasses set the endpoint and how a request becomes chat."""

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

    _ENDPOINT: ClassVar[Endpoint]
    _PATH: ClassVar[str]  # the client path, for the wrong-endpoint error
    _NATIVE_RESPONSES: ClassVar[bool] = False

    def __init__(self, inner: ProviderAdapter) -> None:
        self._inner = inner
        self._memo: tuple[ClientRequest, ClientRequest] | None = None
        self.name = inner.name
        self.kind = inner.kind
        self.origin = inner.origin
        self.base_path = inner.base_path
        self.transport: Transport | None = inner.transport
        self.native_responses = self._NATIVE_RESPONSES
        self.endpoints = frozenset((self._ENDPOINT,))

    def _chat_request(self, req: ClientRequest) -> ClientRequest:
        """The OpenAI chat request equivalent to the client's ``req``."""
        raise NotImplementedError

    def _chat(self, req: ClientRequest) -> ClientRequest:
        """The translated chat request, made once per client request (check, build_call and the
        response path all ask for it; the identity check keeps concurrent requests apart)."""
        memo = self._memo
        if memo is not None and memo[0] is req:
            return memo[1]
        chat = self._chat_request(req)
        self._memo = (req, chat)
        return chat

    def check(self, req: ClientRequest) -> None:
        if req.endpoint is not self._ENDPOINT:
            raise bad_request(f"this adapter serves {self._PATH} only", param="model")

    def build_call(self, req: ClientRequest, provider_model: str) -> UpstreamCall:
        return self._inner.build_call(self._chat(req), provider_model)

    def classify_error(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamFailure:
        return self._inner.classify_error(status, headers, body)
