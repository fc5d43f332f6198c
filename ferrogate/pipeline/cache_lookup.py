"""Phase: answer from the exact-match cache when it holds this request's answer.

Runs after admit and before dispatch (in Redis mode admit sends the lookup beside its own
round trip, ``send_remote_lookup``, and this phase waits for the reply). A request is
cacheable when ``[cache].enabled``, its model's ``cache_enabled``, its key's
``cache_enabled`` (unset: follow the model) and its profile's ``cache_enabled`` all allow
it; ``Cache-Control: no-store`` on the request skips the cache both ways, ``no-cache``
skips the lookup but stores the fresh answer. A hit is served here (dispatch then does
nothing) and charges no provider tokens; a miss marks the request so relay stores its
answer if it succeeds.
Every answer of a gateway with the cache on says ``x-ferrogate-cache: hit|miss|bypass``.
"""

from __future__ import annotations

from asyncio import Future
from collections.abc import Awaitable
from typing import Any, Final

from ferrogate._fastpath.bytes_search import find
from ferrogate._fastpath.clock import perf_counter, time
from ferrogate._fastpath.head import header_block
from ferrogate.ai.usage import Usage
from ferrogate.cache.answer import CachedAnswer, decode_answer
from ferrogate.cache.answer_cache import BYPASS, HIT, MISS, AnswerCache
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.relay import cached_lines
from ferrogate.pipeline.runtime import AiRuntime

_CACHE_CONTROL: Final = b"cache-control"


def cache_lookup(rt: AiRuntime, ctx: RequestContext) -> Awaitable[None] | None:
    cache = rt.cache
    if cache is None:
        return None
    fetch = ctx.cache_fetch
    if fetch is not None:  # the lookup went out beside the admission (Redis mode)
        ctx.cache_fetch = None
        ctx.cache_key, sent = fetch
        ctx.cache = cache
        ctx.cache_state = MISS
        return _answer_remote(cache, ctx, sent)
    if ctx.tool_loop:  # tools run for it: never answered from, or kept in, the cache
        ctx.cache_state = BYPASS
        return None
    use = _use(cache, ctx)
    if use == _BYPASS:
        ctx.cache_state = BYPASS
        return None
    digest = _digest(cache, ctx)
    ctx.cache_key = digest
    ctx.cache = cache
    if use == _STORE_ONLY:
        ctx.cache_state = BYPASS
        return None
    ctx.cache_state = MISS
    local = cache.local
    if local is not None:
        data = local.get(digest, int(time() * 1000))
        if data is not None:
            _serve(ctx, data)
        return None
    return _lookup_remote(cache, ctx, digest)


def send_remote_lookup(rt: AiRuntime, ctx: RequestContext) -> None:
    """Redis mode, called by admit: send this request's cache lookup now, so it and the
    admission share a round trip; cache_lookup then waits for a reply already on its way."""
    cache = rt.cache
    if cache is None or cache.remote is None or ctx.tool_loop or _use(cache, ctx) != _LOOKUP:
        return
    digest = _digest(cache, ctx)
    sent = cache.remote.fetch(digest)
    if sent is not None:  # else (not connected now) cache_lookup asks on its own
        ctx.cache_fetch = (digest, sent)


def _digest(cache: AnswerCache, ctx: RequestContext) -> bytes:
    req = ctx.request
    assert req is not None and ctx.model is not None and ctx.endpoint is not None
    first = ctx.candidates[0]
    key = ctx.api_key
    # _value_: the enum's value without the interpreted ``value`` property (a sixth of a us)
    return cache.keys.key(
        key.tenant if key is not None else None, ctx.endpoint._value_, ctx.model, first.provider, first.provider_model, req.body
    )


async def _lookup_remote(cache: AnswerCache, ctx: RequestContext, digest: bytes) -> None:
    assert cache.remote is not None
    data = await cache.remote.get(digest)
    if data is not None:
        _serve(ctx, data)


async def _answer_remote(cache: AnswerCache, ctx: RequestContext, sent: Future[Any]) -> None:
    assert cache.remote is not None
    data = await cache.remote.answer(sent)
    if data is not None:
        _serve(ctx, data)


_BYPASS: Final = 0
_STORE_ONLY: Final = 1
_LOOKUP: Final = 2


def _use(cache: AnswerCache, ctx: RequestContext) -> int:
    """How this request may use the cache: not at all, only to store its answer, or fully."""
    key = ctx.api_key
    profile = ctx.profile
    if (
        ctx.model not in cache.models
        or (key is not None and key.cache_enabled is False)
        or (profile is not None and profile.cache_enabled is False)
    ):
        return _BYPASS
    control = ctx.exchange.request.header(_CACHE_CONTROL)
    if control is not None:
        lowered = control.lower()
        if find(lowered, b"no-store") >= 0:  # find, not in: see paths.needs_normalising
            return _BYPASS
        if find(lowered, b"no-cache") >= 0:
            return _STORE_ONLY  # no lookup; the fresh answer replaces the stored one
    return _LOOKUP


def _serve(ctx: RequestContext, data: bytes) -> None:
    answer = decode_answer(data)
    if answer is None:
        return
    ctx.cache_state = HIT
    ctx.cache_hit = True
    ctx.cache = None  # nothing to store
    ctx.status = 200
    ctx.candidate = ctx.candidates[0]
    ctx.usage = Usage(
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        total_tokens=answer.prompt_tokens + answer.completion_tokens,
    )
    ctx.exchange.log_upstream = ctx.candidate.key
    ctx.provider = answer.provider  # who answered it first, for the request's record
    ctx.provider_model = answer.provider_model
    ctx.first_byte_at = now = perf_counter()
    lines = cached_lines(ctx, _who(answer), now, answer.stream)
    exchange = ctx.exchange
    if answer.stream:
        exchange.start_response(200, lines)
        exchange.write(answer.body)
        exchange.end()
    else:
        exchange.respond(200, lines, answer.body)


def _who(answer: CachedAnswer) -> bytes:
    return header_block(
        ((b"x-ferrogate-provider", answer.provider.encode()), (b"x-ferrogate-model", answer.provider_model.encode()))
    )
