"""Phase: may this key spend what this request may cost? Take a request and reserve its tokens.

Runs after select (the reservation prices the candidates it chose) and before
dispatch. A key with no limits of its own or its tenant's costs one dict probe.
The reservation is the estimated input (body bytes / 4) plus the most output the
request allows (its ``max_tokens`` / ``max_completion_tokens`` /
``max_output_tokens``, else the model's ``max_output_tokens``, else
``[governance].default_max_output_tokens``), priced at the highest input and
output prices among the candidates, so a fallback never costs more than was
reserved. The account phase settles it. With Redis counters (cluster mode) the phase
waits for one round trip; the local table needs none.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final

from ferrogate.ai.schemas import ChatHead, MessagesHead, ResponsesHead
from ferrogate.governance.limiter import LocalLimiter
from ferrogate.governance.quotas import Subject
from ferrogate.governance.redis_limiter import RedisLimiter
from ferrogate.pipeline.cache_lookup import send_remote_lookup
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime

_BYTES_PER_TOKEN: Final = 4


def admit(rt: AiRuntime, ctx: RequestContext) -> Awaitable[None] | None:
    quotas = rt.quotas
    if quotas is None:
        return None
    key = ctx.api_key
    if key is None:
        return None
    subjects = quotas.by_key.get(key.id)
    if subjects is None:
        return None
    req = ctx.request
    limiter = rt.limiter
    assert req is not None and limiter is not None
    prompt = -(-len(req.body) // _BYTES_PER_TOKEN)
    output = _max_output(rt, ctx)
    input_pico = output_pico = 0
    for cand in ctx.candidates:
        input_pico = max(input_pico, cand.input_pico)
        output_pico = max(output_pico, cand.output_pico)
    tokens = prompt + output
    cost = prompt * input_pico + output * output_pico
    if isinstance(limiter, LocalLimiter):
        ctx.ticket = limiter.admit(subjects, tokens, cost)
        return None
    send_remote_lookup(rt, ctx)  # the cache's round trip overlaps the admission's
    return _admit_remote(limiter, ctx, subjects, tokens, cost)


async def _admit_remote(
    limiter: RedisLimiter, ctx: RequestContext, subjects: tuple[Subject, ...], tokens: int, cost: int
) -> None:
    ctx.ticket = await limiter.admit(subjects, tokens, cost)


def _max_output(rt: AiRuntime, ctx: RequestContext) -> int:
    req = ctx.request
    assert req is not None
    head = req.head
    asked: int | None = None
    if isinstance(head, ChatHead):
        asked = head.max_completion_tokens if head.max_completion_tokens is not None else head.max_tokens
    elif isinstance(head, ResponsesHead):
        asked = head.max_output_tokens
    elif isinstance(head, MessagesHead):
        asked = head.max_tokens
    else:  # embeddings produce no output tokens
        return 0
    if asked is not None and asked >= 0:
        return asked
    assert ctx.model is not None
    entry = rt.registry.models.get(ctx.model)
    if entry is not None and entry.max_output_tokens is not None:
        return int(entry.max_output_tokens)
    return rt.default_max_output
