"""Phase: send the request to the first candidate that answers 2xx, and relay it.

dispatch ⇄ relay: each 2xx answer goes to :mod:`ferrogate.pipeline.relay`; a
stream that fails before its first byte reaches the client comes back here and
the next candidate is tried.

Per attempt: the pool's connect / first-byte / total timeouts (a gateway config
profile's own, when the request chose one). A failure is
classified (``ferrogate.ai.taxonomy``) and either retried on the same
candidate (exponential backoff, or the upstream's Retry-After up to the cap),
or the next candidate is tried, or it goes back to the client. Each
candidate's circuit breaker gates its attempts. Nothing here has written to
the client yet, which is what makes fallback safe; ``relay`` hands a stream
back (``retry_after_stream_failure``) only if it failed before its first byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Final

from ferrogate._fastpath.clock import monotonic, perf_counter
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate._fastpath.pool import complete_head
from ferrogate._fastpath.upstream import Timeouts
from ferrogate._fastpath.upstream_errors import UpstreamError
from ferrogate.ai.health import TargetHealth
from ferrogate.ai.providers.base import (
    ClientRequest,
    Endpoint,
    ProviderAdapter,
    UpstreamCall,
    UpstreamFailure,
    UpstreamResponseLike,
)
from ferrogate.ai.providers.openai_compatible import OpenAICompatibleAdapter
from ferrogate.ai.registry import Candidate
from ferrogate.ai.taxonomy import (
    BREAKER_KINDS,
    Action,
    action_for,
    client_error,
    failure_from_exception,
)
from ferrogate.errors import ErrorSource, GatewayError, bad_request
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.relay import Dispatched, StreamFailedEarly, relay_json, relay_stream
from ferrogate.pipeline.runtime import AiRuntime
from ferrogate.pipeline.trace_context import with_traceparent

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_RETURN: Final = Action.RETURN
_FALL_BACK: Final = Action.FALL_BACK
_UPSTREAM_SOURCE: Final = ErrorSource.UPSTREAM

# A retry wait longer than this goes to the next candidate instead, if there is one.
_LONG_WAIT_SECS: Final = 1.0
# Finals, read as C statics: an imported name is a dict lookup at each use in a compiled module.
_CHAT: Final = Endpoint.CHAT
_EMBEDDINGS: Final = Endpoint.EMBEDDINGS


async def dispatch(rt: AiRuntime, ctx: RequestContext) -> None:
    if ctx.cache_hit or ctx.tool_loop:
        return  # served from the cache, or by the tool loop (the phase before this one)
    req = ctx.request
    assert req is not None
    exchange = ctx.exchange
    # Every phase that reads the client's headers has run (the access log takes the request id
    # run set): they are not kept while the upstream answers, nor for a long stream (~0.6 KB).
    exchange.request.release_headers()
    dispatcher = Dispatcher(rt, ctx, req, ctx.candidates)
    while True:
        d = await dispatcher.next()
        ctx.candidate = d.candidate
        exchange.log_upstream = d.candidate.key
        if d.body is not None:
            relay_json(ctx, exchange, req, d)
            break
        if await _relay_stream_counted(rt, ctx, exchange, req, d, dispatcher):
            break
    if ctx.error is not None and ctx.candidate is not None:
        # The stream broke after it started: the provider failed this request.
        rt.health.get(ctx.candidate.key).failure(monotonic(), rt.health.threshold)


async def _relay_stream_counted(
    rt: AiRuntime, ctx: RequestContext, exchange: HttpExchange, req: ClientRequest, d: Dispatched, dispatcher: Dispatcher
) -> bool:
    """Relay a stream, counted in ``rt.streams`` while it runs; False when it failed before its
    first byte (the next candidate may try)."""
    rt.streams += 1
    try:
        await relay_stream(ctx, exchange, req, d, rt.max_event_bytes)
        return True
    except StreamFailedEarly as early:
        dispatcher.stream_failed_early(d, early.failure)
        return False
    finally:
        rt.streams -= 1


def _prepared_call(adapter: ProviderAdapter, req: ClientRequest, provider_model: str) -> UpstreamCall:
    """The adapter's call for ``req``, once it has checked it can serve it. The OpenAI-compatible
    family is compiled: narrowed to it, both are vtable calls, not methods looked up by name."""
    if isinstance(adapter, OpenAICompatibleAdapter):
        native: OpenAICompatibleAdapter = adapter  # the narrowed type alone is an intersection, called by name
        native.check(req)
        return native.build_call(req, provider_model)
    adapter.check(req)
    return adapter.build_call(req, provider_model)


def send_call(
    rt: AiRuntime, adapter: ProviderAdapter, call: UpstreamCall, provider_model: str, timeouts: Timeouts
) -> Awaitable[UpstreamResponseLike]:
    """Send ``call`` the one way its adapter takes: the adapter's own transport (the
    in-process mock), a head serialized once per model, or the pool's header list.
    Returns the pool's awaitable itself (no coroutine of its own)."""
    if adapter.transport is not None:
        return adapter.transport.send(call, provider_model)
    if call.head:
        payload = call.body
        return rt.pools.pool(adapter.origin).send(
            complete_head(call.head, payload), payload, timeouts, is_head=False, chunked=False
        )
    return rt.pools.request(adapter.origin, call.method, call.path.encode(), call.headers, call.body, timeouts)


class Dispatcher:
    __slots__ = ("_candidates", "_check_error", "_ctx", "_last", "_pos", "_req", "_rt")

    def __init__(
        self, rt: AiRuntime, ctx: RequestContext, req: ClientRequest, candidates: list[Candidate]
    ) -> None:
        self._rt = rt
        self._ctx = ctx
        self._req = req
        self._candidates = candidates
        self._pos = 0
        self._last: tuple[UpstreamFailure, Candidate] | None = None
        self._check_error: GatewayError | None = None

    async def next(self) -> Dispatched:
        """The next 2xx answer, trying candidates in order; the final error otherwise."""
        rt = self._rt
        while self._pos < len(self._candidates):
            cand = self._candidates[self._pos]
            self._pos += 1
            endpoint = self._req.endpoint
            if endpoint is _CHAT or endpoint is _EMBEDDINGS:
                adapter = cand.adapter  # served natively, never wrapped
            else:
                adapter = rt.adapter_for(
                    cand.adapter, endpoint, native_responses="responses" in cand.capabilities
                )
            try:
                call = _prepared_call(adapter, self._req, cand.provider_model)
            except GatewayError as exc:
                self._note_check_error(exc)
                continue
            except (TypeError, AttributeError, KeyError, ValueError, IndexError):
                # A translator met a value of a type it does not take (the typed checks of
                # parse cover the usual shapes): the body is at fault, not the gateway.
                self._note_check_error(
                    bad_request(
                        f"the request body cannot be translated for provider {cand.provider!r}: "
                        "a field has a value of the wrong type"
                    )
                )
                continue
            health = rt.health.get(cand.key)
            if not health.acquire(monotonic(), rt.health.cooldown):
                continue
            retries = 0
            while True:
                self._ctx.attempts += 1
                outcome = await self._attempt(cand, adapter, call, health)
                if isinstance(outcome, Dispatched):
                    return outcome
                failure = outcome
                self._last = (failure, cand)
                action = action_for(failure.kind)
                if action is _RETURN:
                    raise client_error(failure, cand.provider)
                if action is _FALL_BACK or retries >= self._max_retries():
                    break
                delay = self._retry_delay(failure, retries)
                if delay is None or perf_counter() + delay > self._deadline():
                    break
                if delay > _LONG_WAIT_SECS and self._pos < len(self._candidates):
                    break  # another candidate now beats waiting for this one
                retries += 1
                started = perf_counter()
                await asyncio.sleep(delay)
                self._ctx.upstream_secs += perf_counter() - started
                if not health.acquire(monotonic(), rt.health.cooldown):
                    break
        raise self._final_error()

    async def _attempt(
        self,
        cand: Candidate,
        adapter: ProviderAdapter,
        call: UpstreamCall,
        th: TargetHealth,
    ) -> Dispatched | UpstreamFailure:
        rt = self._rt
        ctx = self._ctx
        span: str | None = None
        tracer = rt.tracer
        if tracer is not None and ctx.trace_id is not None:
            span = tracer.span_id()
            call = with_traceparent(call, ctx.trace_id, span, ctx.trace_sampled)
        started = perf_counter()
        response: UpstreamResponseLike | None = None
        verdict = False
        status = 0
        failure: UpstreamFailure | None = None
        try:
            timeouts = rt.timeouts if ctx.profile is None else ctx.profile.timeouts
            response = await send_call(rt, adapter, call, cand.provider_model, timeouts)
            status = response.status
            if 200 <= status < 300:
                body: bytes | None = None
                if not call.stream:
                    body = await response.read(rt.max_response_bytes)
                th.success(perf_counter() - started)
                verdict = True
                ctx.provider = cand.provider
                ctx.provider_model = cand.provider_model
                return Dispatched(cand, adapter, response, body)
            err_body = await response.read(rt.max_response_bytes)
            response.close()
            failure = adapter.classify_error(status, response.headers, err_body)
        except UpstreamError as exc:
            if response is not None:
                response.close()
            failure = failure_from_exception(exc)
        except BaseException:
            if response is not None:
                response.close()
            raise
        finally:
            ended = perf_counter()
            ctx.upstream_secs += ended - started
            if not verdict:
                th.release()
            ctx.attempt_log.append(
                (cand.provider, cand.provider_model, started, ended, status, None if failure is None else failure.kind, span)
            )
        if failure.kind in BREAKER_KINDS:
            th.failure(monotonic(), rt.health.threshold)
        return failure

    # Read on the failure path only, so a request that succeeds first time never reads them.
    def _max_retries(self) -> int:
        profile = self._ctx.profile
        return self._rt.reliability.provider_dispatch_max_retries if profile is None else profile.max_retries

    def _deadline(self) -> float:
        """No retry sleep may carry the request past the dispatch budget."""
        profile = self._ctx.profile
        budget = self._rt.reliability.provider_dispatch_timeout_secs if profile is None else profile.dispatch_timeout_secs
        return self._ctx.received_at + budget

    def _retry_delay(self, failure: UpstreamFailure, retries: int) -> float | None:
        rel = self._rt.reliability
        if failure.retry_after is not None:
            if failure.retry_after > rel.provider_retry_after_cap_secs:
                return None  # waiting that long is worse than another provider
            return failure.retry_after
        base = rel.provider_retry_backoff_ms / 1000.0 * (2**retries)
        return base * (0.5 + self._rt.rng.random() / 2)

    def stream_failed_early(self, d: Dispatched, failure: UpstreamFailure) -> None:
        """A stream died before the client saw a byte: count it, allow the next candidate
        (unless its error is one another provider cannot fix: that goes to the client)."""
        if action_for(failure.kind) is _RETURN:
            raise client_error(failure, d.candidate.provider)
        self._last = (failure, d.candidate)
        self._rt.health.get(d.candidate.key).failure(monotonic(), self._rt.health.threshold)

    def _note_check_error(self, exc: GatewayError) -> None:
        if self._check_error is None:
            self._check_error = exc

    def _final_error(self) -> GatewayError:
        if self._last is not None:
            failure, cand = self._last
            return client_error(failure, cand.provider)
        if self._check_error is not None:
            return self._check_error
        return GatewayError(
            503,
            f"no provider is available for model '{self._req.model}' right now "
            "(every candidate's circuit breaker is open)",
            code="no_healthy_provider",
            source=_UPSTREAM_SOURCE,
        )
