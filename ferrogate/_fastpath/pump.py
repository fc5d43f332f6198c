"""Relay an upstream response to a client exchange with backpressure.

The pump never holds more than the upstream response's bounded buffer: after
each write it awaits ``exchange.drain()``, and while it waits the response's
buffer fills past its high-water mark and the upstream transport stops
reading. Every write goes straight to the client's transport, so
``text/event-stream`` (and any other stream) is flushed chunk by chunk, as
Caddy does for SSE; chunks that are already buffered are coalesced into one
write, which costs no latency.
"""

from __future__ import annotations

from typing import Final

from ferrogate._fastpath.api import Exchange, Headers
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate._fastpath.upstream import UpstreamResponse
from ferrogate._fastpath.wire import HOP_BY_HOP

_RESPONSE_DROP: Final = HOP_BY_HOP | {b"content-length"}
_NO_BODY_STATUS: Final = frozenset((204, 304))
_PLAIN_CONNECTION: Final = frozenset((b"keep-alive", b"close"))


def connection_listed(headers: Headers) -> frozenset[bytes] | None:
    """Extra hop-by-hop names a ``Connection`` header lists (None when there are none)."""
    listed: set[bytes] | None = None
    for name, value in headers:
        if name == b"connection":
            for token in value.split(b","):
                token = token.strip().lower()
                if token and token not in (b"close", b"keep-alive"):
                    if listed is None:
                        listed = set()
                    listed.add(token)
    return frozenset(listed) if listed else None


def response_headers(headers: Headers) -> Headers:
    """Upstream response headers minus hop-by-hop ones and Content-Length
    (the exchange frames the body itself)."""
    out: Headers = []
    connection: bytes | None = None
    for h in headers:
        if h[0] in _RESPONSE_DROP:
            if h[0] == b"connection":
                connection = h[1]
            continue
        out.append(h)
    if connection is not None and connection.lower() not in _PLAIN_CONNECTION:
        listed = connection_listed(headers)  # it names more hop-by-hop fields
        if listed is not None:
            out = [h for h in out if h[0] not in listed]
    return out


def relay_complete(
    exchange: HttpExchange,
    response: UpstreamResponse,
    headers: Headers | None = None,
    add: tuple[bytes, bytes] | None = None,
) -> bool:
    """Send a response whose body has fully arrived in one write, without awaiting.

    ``headers`` are the (filtered, edited) headers to send; None sends the upstream's
    own minus hop-by-hop and server-owned fields, as its connection serialized them when it
    read the head (``UpstreamResponse.relay_lines``), plus the ``add`` header. False (nothing
    sent) when the body is still coming, for HEAD / 204 / 304, whose framing :func:`relay`
    keeps exactly as the upstream declared it, and (for None) when the upstream's
    ``Connection`` names more fields or no connection read the head.
    """
    status = response.status
    if status in _NO_BODY_STATUS or exchange.request.method == b"HEAD":
        return False
    if headers is not None:
        body = response.complete_body()
        if body is None:
            return False
        exchange.respond(status, headers, body)
        return True
    if response.lists_hop_headers:
        return False
    block = response.relay_lines
    if block is None:  # no head read by a connection (headers set by hand): the general path
        return False
    body = response.complete_body()
    if body is None:
        return False
    if add is not None:
        block = b"%b%b: %b\r\n" % (block, add[0], add[1])
    exchange.respond(status, block, body)
    return True


async def relay(
    exchange: Exchange, response: UpstreamResponse, headers: Headers | None = None
) -> int:
    """Send ``response`` to ``exchange``; return the body bytes relayed.

    ``headers`` are the response headers to send (already filtered and edited);
    by default the upstream's, minus hop-by-hop fields. An upstream failure
    after the response has started propagates (the server then closes the
    client connection, since a status line is already out). The response is
    always closed: an unfinished one never returns its connection to the pool.
    """
    if headers is None:
        headers = response_headers(response.headers)
    status = response.status
    try:
        if status not in _NO_BODY_STATUS and exchange.request.method != b"HEAD":
            body = response.complete_body()
            if body is not None:
                # Whole response already here (the common small case): one write.
                exchange.respond(status, headers, body)
                return len(body)
        if response.error is not None:
            raise response.error  # failed before anything was sent: a clean error response
        length = None if response.chunked else response.content_length
        exchange.start_response(status, headers, length)
        response.release_head()
        headers = None  # the head is out: neither is kept for the rest of a long body
        sent = 0
        async for data in response:
            if exchange.disconnected:
                return sent
            exchange.write(data)
            sent += len(data)
            await exchange.drain()
        exchange.end()
        return sent
    finally:
        response.close()
