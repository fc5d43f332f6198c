"""Phase (always runs, last): settle usage and cost, then hand the request's record to the observer.

Usage comes from the provider when it reported it; otherwise it is estimated
from the request size (``source="estimated"``) so every request is accounted.
Requests that reach no provider (``/v1/models``) are not accounted.

A request holding a reservation (``admit``) settles it here: a request that got
no answer releases it whole; an answer spends its usage. A stream cut short
(client gone, upstream error) without a usage report is charged its input
estimate plus its relayed bytes / 4 as output, at most what it reserved.
"""

from __future__ import annotations

from typing import Final

from ferrogate.ai.usage import Usage
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.record import build_record
from ferrogate.pipeline.runtime import AiRuntime

_BYTES_PER_TOKEN: Final = 4
_PICO: Final = 1e-12


def account(rt: AiRuntime, ctx: RequestContext) -> None:
    if ctx.endpoint is None:
        return
    cand = ctx.candidate
    ticket = ctx.ticket
    usage = ctx.usage
    if usage is None and cand is not None and ctx.request is not None:
        usage = ctx.usage = _estimate(ctx)
    if ctx.tool_loop and ctx.cost_pico is not None:
        ctx.cost = ctx.cost_pico * _PICO  # priced call by call by the tool loop
    elif usage is not None and cand is not None and cand.priced:
        ctx.cost_pico = pico = cand.usage_cost_pico(
            usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens
        )
        ctx.cost = pico * _PICO
        if ctx.cache_hit:  # no provider was paid: the cost was saved
            ctx.saved_cost_pico = pico
            ctx.cost_pico = 0
            ctx.cost = 0.0
    if ticket is not None:
        limiter = rt.limiter
        assert limiter is not None
        if ctx.cache_hit:
            limiter.settle(ticket, 0, 0)
        elif (ctx.status == 200 or ctx.tool_loop) and usage is not None:  # a loop's finished calls count
            limiter.settle(ticket, usage.prompt_tokens + usage.completion_tokens, ctx.cost_pico or 0)
        else:
            limiter.settle(ticket, 0, 0)
    observer = rt.observer
    if isinstance(observer, RecordQueue):
        # A worker's queue, called by its compiled method (calling the object is a generic call).
        queue: RecordQueue = observer
        queue.add(build_record(rt, ctx))
    elif observer is not None:
        observer(build_record(rt, ctx))


def _estimate(ctx: RequestContext) -> Usage:
    """Usage for a request the provider reported none for: input from the body size; output
    from the bytes a cut-short stream relayed, at most what it reserved."""
    prompt = max(1, ctx.request_bytes // _BYTES_PER_TOKEN)
    completion = 0
    ticket = ctx.ticket
    if ctx.stream and ctx.status == 200 and ticket is not None:
        completion = min(max(0, ticket.tokens - prompt), ctx.exchange.body_bytes // _BYTES_PER_TOKEN)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion, source="estimated")
