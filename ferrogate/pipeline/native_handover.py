"""Phase support for relay: hand a chat stream's remaining body to the C relay and turn how it
ended into what the relay phase already handles (an upstream error, an event too large)."""

from __future__ import annotations

import asyncio
import os

from ferrogate._fastpath import native_relay as codes
from ferrogate._fastpath.api import Exchange
from ferrogate._fastpath.native_relay import RUNNING, NativeStream, native_relay_enabled
from ferrogate._fastpath.upstream_errors import UpstreamProtocolError
from ferrogate._fastpath.upstream_response import UpstreamResponse
from ferrogate.ai.passthrough import ChatPassthrough, event_too_large

__all__ = ["native_relay_enabled", "relay_natively"]


async def relay_natively(
    exchange: Exchange, response: UpstreamResponse, translator: ChatPassthrough, max_event_bytes: int
) -> bool:
    """Relay the rest of the stream in C; False (nothing done) when either side cannot be handed
    over now. Raises as a Python relay would for an upstream failure or an oversized event."""
    hand_over = getattr(exchange, "hand_over_socket", None)
    if hand_over is None:
        return False
    client_fd = hand_over()
    if client_fd is None:
        return False
    up_fd = response.hand_over_socket()
    if up_fd is None:
        os.close(client_fd)
        return False
    try:
        stream = NativeStream(
            asyncio.get_running_loop(), up_fd, client_fd, max_event_bytes, translator.feed, response.wake,
            getattr(exchange, "write_timeout", 0.0),
        )
    except BaseException:
        os.close(up_fd)
        os.close(client_fd)
        raise
    response.read_natively(stream.relay)
    stream.start()
    try:
        while stream.code == RUNNING:
            await response.wait()
            error = response.error
            if error is not None:
                raise error  # a deadline (idle, total) failed the response meanwhile
    finally:
        stream.close()
        response.read_natively(None)
        exchange.handed_back(stream.relay.bytes_out, stream.code == codes.CLIENT_GONE)  # type: ignore[attr-defined]
    return _outcome(stream, max_event_bytes)


def _outcome(stream: NativeStream, max_event_bytes: int) -> bool:
    code = stream.code
    if code in (codes.DONE, codes.CLIENT_GONE):
        return True
    if code == codes.TOO_LARGE:
        raise event_too_large(max_event_bytes)
    failure = stream.relay.failure
    if code == codes.INSPECT_FAILED and failure is not None:
        raise failure
    if code == codes.BAD_FRAMING:
        raise UpstreamProtocolError("invalid chunked framing from upstream", phase="body")
    raise UpstreamProtocolError("upstream closed the connection mid-body", phase="body")

