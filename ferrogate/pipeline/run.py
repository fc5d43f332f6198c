"""The phase runner: one AI request through its endpoint's ordered phases.

A phase is ``phase(runtime, ctx)``; it returns None when it finished
synchronously or an awaitable to wait for (so phases that never wait cost no
coroutine). Any phase ends the request by raising :class:`GatewayError`; the
one handler here attaches the request id and attempt count and renders it
through ``exchange.fail`` in the endpoint's flavor. ``account`` always runs
last for the endpoints that reach a provider, whatever happened.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Final

from ferrogate._fastpath.clock import perf_counter
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate.ai.providers.base import Endpoint
from ferrogate.cache.answer_cache import STATE_PAIRS
from ferrogate.errors import ErrorFlavor, ErrorSource, GatewayError
from ferrogate.pipeline.account import account
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_INTERNAL_SOURCE: Final = ErrorSource.INTERNAL

Phase = Callable[[AiRuntime, RequestContext], Awaitable[None] | None]


class AiRoute:
    """One AI endpoint: what it needs from the key, how its errors look, its phases."""

    __slots__ = ("accounted", "endpoint", "flavor", "methods", "phases", "scope")

    def __init__(
        self,
        endpoint: Endpoint | None,
        scope: str,
        methods: frozenset[bytes],
        phases: tuple[Phase, ...],
        *,
        flavor: ErrorFlavor = ErrorFlavor.OPENAI,
        accounted: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.scope = scope
        self.methods = methods
        self.phases = phases
        self.flavor = flavor
        self.accounted = accounted  # the account phase runs (requests that reach a provider)


_SAFE_ID: Final = re.compile(rb"[A-Za-z0-9._:\-]+")


def request_id_for(rt: AiRuntime, exchange: HttpExchange) -> bytes:
    """The caller's ``x-request-id`` when it is sane (so traces join up), else a new one."""
    given = exchange.request.header(b"x-request-id")
    if given is not None and len(given) <= 128 and _SAFE_ID.fullmatch(given) is not None:
        return given
    return rt.new_request_id()


async def run(rt: AiRuntime, route: AiRoute, exchange: HttpExchange) -> None:
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds,
    # too coarse for an overhead measured in microseconds.
    ctx = RequestContext(exchange, request_id_for(rt, exchange), route.endpoint, route.scope, route.flavor, perf_counter())
    exchange.log_request_id = ctx.request_id
    tracer = rt.tracer
    if tracer is not None:
        ctx.trace_id, ctx.parent_span_id, ctx.trace_sampled = tracer.continue_trace(exchange.request.header(b"traceparent"))
        ctx.span_id = tracer.span_id()
    try:
        for phase in route.phases:
            pending = phase(rt, ctx)
            if pending is not None:
                await pending
    except GatewayError as err:
        ctx.error = err
        ctx.status = err.status
        if exchange.started:
            raise  # the server ends a started response; nothing can be rendered now
        extra: tuple[tuple[bytes, bytes], ...] = (
            (b"x-request-id", ctx.request_id),
            (b"x-ferrogate-attempts", b"%d" % ctx.attempts),
        )
        if ctx.profile is not None:
            extra += ctx.profile.headers
        ticket = ctx.ticket
        if ticket is not None and ticket.block is not None:
            extra += ticket.header_pairs()
        if ctx.cache_state is not None:
            extra += STATE_PAIRS[ctx.cache_state]
        exchange.fail(err, ctx.flavor, extra)
    except Exception:
        ctx.error = GatewayError(500, "internal error", source=_INTERNAL_SOURCE)
        ctx.status = 500
        raise
    finally:
        if route.accounted:
            account(rt, ctx)
