"""Phase: read and decode the request body once into the endpoint's typed head."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec

from ferrogate.ai.providers.calls import ClientRequest
from ferrogate.ai.providers.endpoint import Endpoint
from ferrogate.ai.schemas import ChatHead, EmbeddingsHead, MessagesHead, ResponsesHead
from ferrogate.ai.schemas_messages import MESSAGES_CHECK
from ferrogate.errors import bad_request
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime

try:
    from ferrogate.ai._json_top import duplicate_top_level_key
except ImportError:  # not built: decode_body takes the exact check for every body
    duplicate_top_level_key = None  # type: ignore[assignment]

# Finals, read as C statics: an imported name is a dict lookup at each use in a compiled module.
_DUPLICATE_TOP_LEVEL_KEY: Final = duplicate_top_level_key
_CHAT: Final = Endpoint.CHAT
_MESSAGES: Final = Endpoint.MESSAGES
_CHAT_HEAD: Final = ChatHead

# Each endpoint's decode, bound once: a decoder's method called by name is looked up each time.
_DECODE: Final[dict[Endpoint, Callable[[bytes], Any]]] = {
    Endpoint.CHAT: msgspec.json.Decoder(ChatHead).decode,
    Endpoint.RESPONSES: msgspec.json.Decoder(ResponsesHead).decode,
    Endpoint.EMBEDDINGS: msgspec.json.Decoder(EmbeddingsHead).decode,
    Endpoint.MESSAGES: msgspec.json.Decoder(MessagesHead).decode,
}

_PATH: Final = re.compile(r"at `\$\.?([^`]*)`")

_FORWARDED: Final = b"anthropic-beta"
_TOOLS_HEADER: Final = b"x-ferrogate-tools"


def forwarded_headers(headers: list[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
    """The client headers an Anthropic upstream must see: ``anthropic-beta`` only."""
    return tuple(h for h in headers if h[0] == _FORWARDED)


def parse(rt: AiRuntime, ctx: RequestContext) -> Awaitable[None] | None:
    """Decode the body into ``ctx.request`` (awaiting it only when it is still arriving)."""
    body = ctx.exchange.take_body()
    if body is None:
        return _parse_when_read(ctx)
    _decode_into(ctx, body)
    return None


async def _parse_when_read(ctx: RequestContext) -> None:
    """The same decode, once the rest of the body has arrived (a slow or large upload)."""
    _decode_into(ctx, await ctx.exchange.read_body())


def _decode_into(ctx: RequestContext, body: bytes) -> None:
    endpoint = ctx.endpoint
    assert endpoint is not None
    if endpoint is _MESSAGES:
        req = decode_body(endpoint, body, forwarded_headers(ctx.exchange.request.headers))
    else:
        req = decode_body(endpoint, body)
    ctx.request = req
    ctx.request_bytes = len(body)
    ctx.model = req.model
    ctx.stream = req.stream
    if endpoint is _CHAT:
        tools = ctx.exchange.request.header(_TOOLS_HEADER)
        if tools is not None:
            ctx.tool_loop = _tool_loop_wanted(tools)


def _tool_loop_wanted(value: bytes) -> bool:
    """``x-ferrogate-tools``: ``auto`` runs the automatic tool loop, ``off`` does not."""
    wanted = value.strip().lower()
    if wanted == b"auto":
        return True
    if wanted == b"off":
        return False
    raise bad_request(
        "the x-ferrogate-tools header takes `auto` (the gateway runs the MCP tools marked"
        " tools_to_auto_execute) or `off`",
        param="x-ferrogate-tools",
        code="invalid_header",
    )


def decode_body(
    endpoint: Endpoint, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> ClientRequest:
    """Decode ``body``; a bad body is a 400 that names the offending field."""
    # A body that starts with its brace is not blank: no strip call (a method call from compiled code)
    if not body or (body[0] != 123 and not body.strip()):
        raise bad_request("the request body is empty; expected a JSON object", code="invalid_json")
    try:
        head = _DECODE[endpoint](body)
        if endpoint is _MESSAGES:
            MESSAGES_CHECK.decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _PATH.search(text)
        param = m.group(1) if m and m.group(1) else None
        raise bad_request(f"invalid request body: {text}", param=param, code="invalid_type") from None
    except msgspec.DecodeError as exc:
        raise bad_request(
            f"the request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    except RecursionError:
        raise bad_request("the request body is nested too deeply", code="invalid_json") from None
    # A top-level key named twice is refused (JSON parsers keep the last, an upstream may keep
    # the first: `{"model": "expensive", "model": "allowed"}` must not pass as one). The C walk
    # of the top level tells at once; where it cannot (an escaped key, more than 64 keys) or is
    # not built, the exact check in Python decides.
    if _DUPLICATE_TOP_LEVEL_KEY is None or _DUPLICATE_TOP_LEVEL_KEY(body) != 0:
        _refuse_duplicate_keys(body)
    if not head.model:
        raise bad_request(
            "you must provide a model parameter", param="model", code="missing_required_parameter"
        )
    stream = bool(getattr(head, "stream", False))
    wants_usage = False
    if isinstance(head, _CHAT_HEAD) and head.stream_options is not None:
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


def _refuse_duplicate_keys(body: bytes) -> None:
    """400 when a top-level key of the JSON object appears twice (the slow, exact check)."""
    pairs_seen: list[list[tuple[str, object]]] = []

    def keep_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
        pairs_seen.append(pairs)
        return {}

    try:
        json.loads(body, object_pairs_hook=keep_pairs)
    except (ValueError, RecursionError):
        return  # msgspec accepted it; nothing more to learn here
    # The outermost object is completed (and handed to the hook) last.
    names = [name for name, _ in pairs_seen[-1]] if pairs_seen else []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise bad_request(f"the request body names `{name}` twice", param=name, code="duplicate_key")
        seen.add(name)
