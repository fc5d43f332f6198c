"""Phase support for relay: hand a stream's remaining body to the C relay and turn how it
ended into what the relay phase already handles (an upstream error, an event too large).

Streams relayed as they come (OpenAI chat and Responses, Anthropic Messages to Anthropic) can go;
a translated stream cannot, since Python rewrites every event of it."""

from __future__ import annotations

import asyncio
import os
from typing import Final, Protocol, cast

from ferrogate._fastpath import native_relay as codes
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate._fastpath.native_relay import RUNNING, Inspector, NativeStream, native_relay_enabled
from ferrogate._fastpath.upstream_errors import UpstreamProtocolError
from ferrogate._fastpath.upstream_response import UpstreamResponse
from ferrogate.ai.passthrough import ChatPassthrough, ResponsesPassthrough, event_too_large
from ferrogate.ai.providers.base import StreamTranslator
from ferrogate.ai.translate.messages_relay import AnthropicRelayStream

__all__ = ["NativeTranslator", "native_relay_enabled", "native_translator", "relay_natively"]


class NativeTranslator(Inspector, Protocol):
    """A translator the C relay can stand in for: it names the blocks it must still see."""

    @property
    def at_event_end(self) -> bool: ...

    def relayed_natively(self, counted: int) -> None: ...


_NATIVE: Final[tuple[type, ...]] = (ChatPassthrough, ResponsesPassthrough, AnthropicRelayStream)


def native_translator(translator: StreamTranslator) -> NativeTranslator | None:
    """``translator`` when the C relay can take its stream over, else None."""
    if isinstance(translator, _NATIVE) and native_relay_enabled():
        return cast(NativeTranslator, translator)
    return None


async def relay_natively(
    exchange: HttpExchange, response: UpstreamResponse, translator: NativeTranslator, max_event_bytes: int
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
            asyncio.get_running_loop(), up_fd, client_fd, max_event_bytes, translator, response.wake,
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
        exchange.handed_back(stream.relay.bytes_out, stream.code == codes.CLIENT_GONE)
        translator.relayed_natively(stream.relay.counted)
    done = _outcome(stream, max_event_bytes)
    if stream.code == codes.DONE:
        translator.feed(stream.relay.pending())  # an unended last event: finish() decides on it
    return done


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

