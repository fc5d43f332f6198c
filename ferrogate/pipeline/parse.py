"""Phase: read and decode the request body once into the endpoint's typed head."""

from __future__ import annotations

import re

import msgspec

from ferrogate._fastpath.api import Exchange
from ferrogate.ai.providers.base import ClientRequest, Endpoint
from ferrogate.ai.schemas import ChatHead, EmbeddingsHead, MessagesHead, ResponsesHead
from ferrogate.errors import bad_request

_DECODERS: dict[Endpoint, msgspec.json.Decoder] = {
    Endpoint.CHAT: msgspec.json.Decoder(ChatHead),
    Endpoint.RESPONSES: msgspec.json.Decoder(ResponsesHead),
    Endpoint.EMBEDDINGS: msgspec.json.Decoder(EmbeddingsHead),
    Endpoint.MESSAGES: msgspec.json.Decoder(MessagesHead),
}

_PATH = re.compile(r"at `\$\.?([^`]*)`")


_FORWARDED = b"anthropic-beta"


def forwarded_headers(headers: list[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
    """The client headers an Anthropic upstream must see: ``anthropic-beta`` only."""
    return tuple(h for h in headers if h[0] == _FORWARDED)


def decode_body(
    endpoint: Endpoint, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> ClientRequest:
    """Decode ``body``; a bad body is a 400 that names the offending field."""
    if not body.strip():
        raise bad_request("the request body is empty; expected a JSON object", code="invalid_json")
    try:
        head = _DECODERS[endpoint].decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _PATH.search(text)
        param = m.group(1) if m and m.group(1) else None
        raise bad_request(f"invalid request body: {text}", param=param, code="invalid_type") from None
    except msgspec.DecodeError as exc:
        raise bad_request(
            f"the request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not head.model:
        raise bad_request(
            "you must provide a model parameter", param="model", code="missing_required_parameter"
        )
    stream = bool(getattr(head, "stream", False))
    wants_usage = False
    if isinstance(head, ChatHead) and head.stream_options is not None:
        wants_usage = bool(head.stream_options.include_usage)
    return ClientRequest(
        endpoint=endpoint,
        body=body,
        model=head.model,
        stream=stream,
        client_wants_usage=wants_usage,
        head=head,
        headers=headers,
    )


async def parse_request(exchange: Exchange, endpoint: Endpoint) -> ClientRequest:
    return decode_body(endpoint, await exchange.read_body())
