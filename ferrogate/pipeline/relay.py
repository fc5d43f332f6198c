"""Phase: deliver the upstream's 2xx answer to the client.

Buffered JSON goes out in one write. A stream is relayed event by event as it
arrives: each upstream read goes through the adapter's translator, whole
events are written and ``drain()`` is awaited (a slow client slows the
upstream read; memory stays bounded by the pool's high-water mark). The
response head is sent with the first bytes, so a stream that dies before
producing anything can still fall back (:class:`StreamFailedEarly`). After
that, a failure becomes the client format's error event and a clean end.
"""

from __future__ import annotations

from typing import Final

from ferrogate._fastpath.clock import perf_counter, time
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate._fastpath.head import HeaderTemplate, header_block
from ferrogate._fastpath.number_bytes import fill_template
from ferrogate._fastpath.upstream_errors import UpstreamError
from ferrogate._fastpath.upstream_response import UpstreamResponse
from ferrogate.ai.passthrough import event_too_large, truncated_error
from ferrogate.ai.providers.base import (
    ClientRequest,
    ErrorKind,
    ProviderAdapter,
    StreamTranslator,
    UpstreamFailure,
    UpstreamResponseLike,
)
from ferrogate.ai.registry import Candidate
from ferrogate.ai.taxonomy import failure_from_exception
from ferrogate.ai.translate.errors import classify_stream_error
from ferrogate.ai.usage import Usage
from ferrogate.cache.answer import ANSWER_ENCODER, CachedAnswer
from ferrogate.cache.answer_cache import AnswerCache
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.native_handover import native_translator, relay_natively

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_UPSTREAM_SOURCE: Final = ErrorSource.UPSTREAM
_UPSTREAM_TRANSIENT: Final = ErrorKind.UPSTREAM_TRANSIENT

JSON_LINES: Final = header_block(((b"content-type", b"application/json"),))
SSE_LINES: Final = header_block(
    (
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
    )
)
# Serialized once per response in one step (no header list, no filtering pass):
# every value is ours (a request id is checked or generated, provider and model come from config).
_GATEWAY: Final = HeaderTemplate(
    (b"x-request-id", b"%b"),
    (b"", b"%b"),  # the candidate's provider and model block
    (b"x-ferrogate-attempts", b"%d"),
    (b"x-ferrogate-overhead-ms", b"%.3f"),
    (b"", b"%b"),  # the content-type block
)
# Finals: C statics in the compiled module (an attribute of the template is a lookup per read)
_GATEWAY_PIECES: Final = _GATEWAY.pieces
_GATEWAY_KINDS: Final = _GATEWAY.kinds


class Dispatched:
    """A 2xx answer: the stream still open, or (not streamed) the whole body read."""

    __slots__ = ("adapter", "body", "candidate", "response")

    def __init__(
        self, candidate: Candidate, adapter: ProviderAdapter, response: UpstreamResponseLike, body: bytes | None
    ) -> None:
        self.candidate = candidate
        self.adapter = adapter
        self.response = response
        self.body = body


class StreamFailedEarly(Exception):
    """The upstream stream failed before a single byte reached the client."""

    def __init__(self, failure: UpstreamFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def gateway_lines(ctx: RequestContext, d: Dispatched, now: float, content: bytes) -> bytes:
    """The response header lines of a 2xx answer, ``content`` (the content-type lines) last."""
    return fill_template(
        _GATEWAY_PIECES, _GATEWAY_KINDS,
        ctx.request_id, d.candidate.id_lines, ctx.attempts, ctx.overhead_ms(now), governance_lines(ctx, content),
    )


def governance_lines(ctx: RequestContext, content: bytes) -> bytes:
    """``content`` and the lines governance adds to a 2xx answer: the profile's, the key's
    remaining limits, the cache's verdict."""
    profile = ctx.profile
    if profile is not None:
        content += profile.block
    ticket = ctx.ticket
    if ticket is not None and ticket.block is not None:
        content += ticket.block
    state = ctx.cache_state
    if state is not None:
        content += state
    return content


def cached_lines(ctx: RequestContext, who: bytes, now: float, stream: bool) -> bytes:
    """The header lines of an answer served from the cache (``who``: the provider lines it came from)."""
    content = governance_lines(ctx, SSE_LINES if stream else JSON_LINES)
    return fill_template(_GATEWAY_PIECES, _GATEWAY_KINDS, ctx.request_id, who, 0, ctx.overhead_ms(now), content)


def relay_json(ctx: RequestContext, exchange: HttpExchange, req: ClientRequest, d: Dispatched) -> None:
    body, usage = d.adapter.translate_response(req, d.body or b"")
    ctx.usage = usage
    ctx.status = 200
    ctx.first_byte_at = now = perf_counter()
    exchange.respond(200, gateway_lines(ctx, d, now, JSON_LINES), body)
    cache = ctx.cache
    if cache is not None and ctx.cache_key is not None:
        _store(cache, ctx.cache_key, False, body, usage, d.candidate)


def _store(cache: AnswerCache, digest: bytes, stream: bool, body: bytes, usage: Usage | None, cand: Candidate) -> None:
    answer = CachedAnswer(  # positional (CachedAnswer's field order): keywords cost more from compiled code
        stream,
        body,
        usage.prompt_tokens if usage is not None else 0,
        usage.completion_tokens if usage is not None else 0,
        cand.provider,
        cand.provider_model,
    )
    cache.store(digest, ANSWER_ENCODER.encode(answer), int(time() * 1000))


async def relay_stream(
    ctx: RequestContext, exchange: HttpExchange, req: ClientRequest, d: Dispatched, max_event_bytes: int
) -> None:
    translator = d.adapter.stream_translator(req)
    response = d.response
    if isinstance(response, UpstreamResponse):
        response.release_head()  # nothing reads a 2xx stream's head again: not kept meanwhile
    started = False
    held = 0  # bytes fed since the translator last gave output: an unfinished event
    kept: list[bytes] | None = [] if ctx.cache is not None else None  # what to cache, if it completes
    try:
        try:
            whole = response.complete_body() if isinstance(response, UpstreamResponse) else None
            if whole is not None:
                # The whole stream is already here (a short answer): one pass, no awaits.
                out = translator.feed(whole) if whole else b""
                if out:
                    _start(ctx, exchange, d, perf_counter())
                    started = True
                    exchange.write(out)
                    if kept is not None:
                        kept.append(out)
            else:
                # Upstream waits are timed only until the head goes out: the overhead header
                # is computed then, and the reads after it need no clock calls.
                wait_from = perf_counter()
                pushable = isinstance(response, UpstreamResponse)
                async for chunk in response.chunks():
                    if not started:
                        now = perf_counter()
                        ctx.upstream_secs += now - wait_from
                    out = translator.feed(chunk)
                    if not out:
                        held += len(chunk)
                        if held > max_event_bytes:
                            raise event_too_large(max_event_bytes)
                    else:
                        held = 0
                    if out:
                        if not started:
                            _start(ctx, exchange, d, now)
                            started = True
                        exchange.write(out)
                        if kept is not None:
                            kept.append(out)
                        await exchange.drain()
                        if pushable:
                            break
                    elif not started:
                        wait_from = perf_counter()
                if pushable and started:
                    # The rest is relayed from the upstream's read callback: no task wake-up
                    # per event; the task wakes for the end, a failure, or a client behind.
                    assert isinstance(response, UpstreamResponse)
                    chunk = out = b""  # not held for the rest of a long stream
                    sink = _Relay(exchange, translator, kept, held, max_event_bytes)
                    # A stream relayed as it comes and not being cached may go to the C relay:
                    # the sink then stops at an event's end so the hand-over can be tried there.
                    native = native_translator(translator) if kept is None else None
                    if native is not None:
                        sink.offers = _NATIVE_OFFERS
                    while await response.push(sink):
                        # Not after a stop for backpressure mid-event: the C relay starts
                        # with no half event of its own.
                        if sink.offers and native is not None and native.at_event_end:
                            sink.offers -= 1
                            if await relay_natively(exchange, response, native, max_event_bytes):
                                break
                        await exchange.drain()
            tail = translator.finish()
        except UpstreamError as exc:
            if not started:
                raise StreamFailedEarly(failure_from_exception(exc)) from None
            ctx.error = exc
            exchange.write(d.adapter.emit_error(req, _mid_stream(exc)))
            return
        except GatewayError as exc:  # a translator rejected what the upstream sent
            if not started:
                raise StreamFailedEarly(_as_failure(exc)) from None
            ctx.error = exc
            exchange.write(d.adapter.emit_error(req, exc))
            return
        if not translator.complete:
            if not started:
                raise StreamFailedEarly(_early_failure(translator))
            ctx.error = truncated_error()
        if not started:
            _start(ctx, exchange, d, perf_counter())
            started = True
        if tail:
            exchange.write(tail)
            if kept is not None:
                kept.append(tail)
        ctx.status = 200
        if kept is not None and ctx.error is None and ctx.cache_key is not None and not exchange.disconnected:
            assert ctx.cache is not None
            _store(ctx.cache, ctx.cache_key, True, b"".join(kept), translator.usage, d.candidate)
    finally:
        ctx.usage = translator.usage
        response.close()
        if started and not exchange.disconnected:
            exchange.end()


_CHECK_BYTES: Final = 16 * 1024
# Hand-overs tried per stream: one fails only while a read ends mid-chunk or bytes wait in a
# transport (or for good: TLS), so a few tries at later event ends are enough.
_NATIVE_OFFERS: Final = 4


class _Relay:
    """Relays upstream stream bytes to the client as they are read (``UpstreamResponse.push``).

    Runs once per upstream read, so it calls bound methods it kept (no attribute lookup
    through the Exchange and StreamTranslator protocols per read), and looks at the client's
    backpressure once per ``_CHECK_BYTES`` written: the transport then holds at most that much
    past its high-water mark.
    """

    __slots__ = ("exchange", "feed", "held", "kept", "max_event_bytes", "offers", "unchecked", "write")

    def __init__(
        self, exchange: HttpExchange, translator: StreamTranslator, kept: list[bytes] | None, held: int, max_event_bytes: int
    ) -> None:
        self.exchange = exchange
        self.feed = translator.feed
        self.write = exchange.write
        self.kept = kept
        self.held = held  # bytes fed since the translator last gave output: an unfinished event
        self.max_event_bytes = max_event_bytes
        self.unchecked = 0  # bytes written since the client's backpressure was last looked at
        self.offers = 0  # hand-overs to the C relay still to try (each at an event's end)

    def take(self, data: bytes) -> bool:
        out = self.feed(data)
        if not out:
            self.held += len(data)
            if self.held > self.max_event_bytes:
                raise event_too_large(self.max_event_bytes)
            return True
        self.held = 0
        self.write(out)
        if self.kept is not None:
            self.kept.append(out)
        if self.offers and data.endswith(b"\n\n"):
            return False  # an event ended the read: the relay task tries the hand-over
        self.unchecked += len(out)
        if self.unchecked < _CHECK_BYTES:
            return True
        self.unchecked = 0
        return not self.exchange.writing_paused


def _start(ctx: RequestContext, exchange: HttpExchange, d: Dispatched, now: float) -> None:
    ctx.status = 200
    ctx.first_byte_at = now
    exchange.start_response(200, gateway_lines(ctx, d, now, SSE_LINES))
    ctx.let_body_go()  # started: no fallback can send it again, whichever way the stream is relayed


def _mid_stream(exc: UpstreamError) -> GatewayError:
    return GatewayError(
        exc.status,
        f"the upstream stream failed: {exc.message}",
        code=exc.code,
        source=_UPSTREAM_SOURCE,
    )


def _as_failure(err: GatewayError) -> UpstreamFailure:
    return UpstreamFailure(
        kind=_UPSTREAM_TRANSIENT, status=0, message=err.message, code=err.code or "upstream_error"
    )


def _early_failure(translator: StreamTranslator) -> UpstreamFailure:
    """Why a stream ended before any output: the upstream's own error event when the
    translator held one back (so the client gets its real status and message), else
    a truncation."""
    held = getattr(translator, "early_error", b"")
    if held:
        err = classify_stream_error(held)
        if err is not None:
            return UpstreamFailure(
                kind=ErrorKind(err.kind), status=err.status, message=err.message, code=err.raw_type or None
            )
    return _as_failure(truncated_error())
