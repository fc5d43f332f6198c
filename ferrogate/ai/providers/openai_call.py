"""The upstream call an OpenAI-wire adapter makes for one request: the client's body with the
model renamed and, for a chat stream, usage asked for. Compiled (it runs on every request),
apart from the adapter classes, which interpreted subclasses extend."""

from __future__ import annotations

from typing import Final

from ferrogate.ai.providers.calls import ClientRequest, UpstreamCall
from ferrogate.ai.providers.endpoint import Endpoint
from ferrogate.ai.splice import ensure_include_usage, rename_model

_CHAT: Final = Endpoint.CHAT


def openai_call(
    req: ClientRequest, provider_model: str, target: tuple[str, bytes], headers: tuple[tuple[bytes, bytes], ...]
) -> UpstreamCall:
    """``target``: the (path, serialized head) the adapter keeps per endpoint and model."""
    body = rename_model(req.body, provider_model, current=req.model)
    if req.stream and req.endpoint is _CHAT and not req.client_wants_usage:
        body = ensure_include_usage(body)
    return UpstreamCall(path=target[0], headers=list(headers), body=body, stream=req.stream, head=target[1])
